"""``panelgate demo`` makes its exposure through the exposure workflow, in a simulated room.

Issue 12: the demo no longer repeats correct, build, queue and preview outside the state
machine, nor doses the panel by hand for the image: its panel and an in-process simulated
generator stand in a temporary X-ray room, and the phantom exposure goes through
``ExposureWorkflow.run`` (PREP, READY, EXP, readout, processing, queued) in the panel's own
trigger mode. The image shows the panel's phantom; the header carries the technique the
generator delivered.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
import pytest

from panelgate.acquisition.cli import main
from panelgate.acquisition.config import CalibrationConfig, Config
from panelgate.acquisition.demo import DEMO_KV, DEMO_MAS, run_demo
from panelgate.simulators import SimulatedDetector

SIZE = 128
WORKFLOW_STATES = ["preparing", "ready", "exposing", "readout", "processing", "queued"]


def _wedge_steps(pixels: npt.NDArray[np.generic]) -> list[float]:
    """Mean of each of the ten steps of the step wedge (simulators.phantom's layout)."""
    h, w = pixels.shape
    margin_y, margin_x = h // 16, w // 16
    rows = slice(margin_y + 4, h // 2 - margin_y // 2 - 4)
    edges = np.linspace(margin_x, w - margin_x, 11).astype(int)
    return [float(pixels[rows, x0 + 2 : x1 - 2].mean()) for x0, x1 in itertools.pairwise(edges)]


@pytest.mark.parametrize("trigger", ["software", "generator", "aed"])
def test_the_demo_exposes_through_the_workflow_in_its_room(trigger: str, tmp_path: Path) -> None:
    panel = SimulatedDetector.from_url(
        f"sim://?width={SIZE}&height={SIZE}&seed=7&trigger={trigger}"
    )
    config = Config(calibration=CalibrationConfig(dark_frames=2, flood_frames=2))
    result = run_demo(tmp_path, config, detector=panel)
    assert result.states == WORKFLOW_STATES
    assert result.trigger == trigger, "the workflow runs in the panel's trigger mode"
    assert result.delivery.delivered and result.pacs_path is not None
    ds = pydicom.dcmread(result.pacs_path)
    steps = _wedge_steps(ds.pixel_array)
    assert all(a > b for a, b in itertools.pairwise(steps)), f"not the step wedge: {steps}"
    assert result.delivered is not None
    assert float(ds.KVP) == pytest.approx(result.delivered.kv)
    assert float(ds.KVP) == pytest.approx(DEMO_KV, rel=0.05), "the generator's delivered kV"
    assert int(ds.ExposureInuAs) == pytest.approx(DEMO_MAS * 1000, rel=0.05)
    assert not list(tmp_path.glob("room-*")), "the temporary room is removed at the end"
    assert not (tmp_path / "exposed").exists() and not (tmp_path / "preview").exists()
    assert result.preview_path == tmp_path / f"{result.sop_instance_uid}.png"


def test_the_demo_prints_the_workflows_phases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main([
        "demo", "--out", str(tmp_path), "--detector", f"sim://?width={SIZE}&height={SIZE}",
        "--dark-frames", "2", "--flood-frames", "2",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "generator in a simulated X-ray room" in out and "trigger software" in out
    stages = [line.split("  ")[1].strip() for line in out.splitlines() if line.startswith("  ")]
    assert stages[:4] == [
        "start-up (numba JIT, PACS)", "darks (2 frames)", "floods (2 frames)",
        "calibrate (dark, gain, defect maps)",
    ]  # fmt: skip
    assert stages[4:13] == [
        "checks before the beam", "PREP -> READY (arm, generator prep)",
        "EXP -> DONE (the beam)", "readout (frame from the panel)", "correct (numba)",
        "presentation processing (numba)", "build DX instance", "queue in the outbox (fsync)",
        "preview PNG, dose log",
    ]  # fmt: skip
    assert stages[13].startswith("C-STORE to") and stages[14] == "total"
    delivered = next(line for line in out.splitlines() if line.startswith("delivered:"))
    assert " kV, " in delivered and " mAs" in delivered

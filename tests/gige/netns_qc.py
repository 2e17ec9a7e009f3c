"""``panelgate qc`` over the GigE simulator, through the pty generator (issue 15 §1).

``panelgate simulate gige --room DIR`` runs as a separate process in this loopback-only
namespace; the pty simulated generator of this process stands in the same room, and qc
places the slanted edge in that room (``--room``) for the edge exposures, which the GigE
panel renders like any simulated panel. Needs GigE frames from the physics model (fresh
noise each frame, the generator's dose): issue 15 §2. Runs inside a loopback-only
namespace (see conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from panelgate.acquisition.cli import main
from panelgate.simulators import Room
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator

URL = "gige://127.0.0.1:3956"


def test_qc_over_gige_writes_the_report(
    tmp_path: Path, gige_simulator: Callable[..., object], capsys: pytest.CaptureFixture[str]
) -> None:
    room = tmp_path / "room"
    gige_simulator(
        "--width", "384", "--height", "384", "--serial", "GIGE-QC", "--seed", "21",
        "--room", str(room),
    )  # fmt: skip
    spec = GeneratorSpec(prep_s=0.02, time_scale=0.1)
    with SimulatedGenerator(spec, seed=19, room=Room(room)) as generator:
        rc = main([
            "qc", "--detector", URL, "--generator", generator.device_path, "--room", str(room),
            "--yes", "--flat-frames", "2", "--dark-frames", "3", "--edge-frames", "2",
            "--out", str(tmp_path / "qc"),
        ])  # fmt: skip
        out, err = capsys.readouterr()
        assert rc == 0, err
        commands = list(generator.model.commands)
    assert commands.count("EXP") == commands.count("PREP") == 3 * 3 + 1 + 2
    doc = json.loads((tmp_path / "qc" / "qc.json").read_text())
    assert doc["detector"]["serial"] == "GIGE-QC" and doc["exposures"] == 12
    [mtf] = doc["mtf"]
    assert mtf["axis"] == "x" and 1.5 <= abs(mtf["edge_angle_deg"]) <= 3.0
    assert 0.0 < mtf["mtf_at_nyquist"] < 1.0
    assert doc["linearity"]["r_squared"] > 0.99
    assert doc["dark"]["noise_counts"] > 0  # fresh noise in every frame
    assert 0.2 < doc["dqe"]["dqe_zero"] < 1.0
    for name in ("qc.html", "mtf.png", "nnps.png", "dqe.png", "nonuniformity.png"):
        assert (tmp_path / "qc" / name).stat().st_size > 0, name
    assert "slanted edge is placed in the simulated room" in err and "report:" in out

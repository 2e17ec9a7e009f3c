"""``calibrate --generator`` over the GigE simulator, then ``expose`` with the set (issue 12).

``panelgate simulate gige --room DIR`` runs as a separate process in this loopback-only
namespace; the pty simulated generator of this process stands in the same room. The panel
gets its dose only from the generator's exposures (no calibration source reaches a GigE
panel), exactly as a real panel would, and states no counts per µGy: the floods' level is
judged by linearity. Runs inside a loopback-only namespace (see conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from panelgate.acquisition.cli import main
from panelgate.calibration import CalibrationStore
from panelgate.simulators import Room
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator

URL = "gige://127.0.0.1:3956"


def test_calibrate_all_through_the_generator_then_expose_uses_the_set(
    tmp_path: Path, gige_simulator: Callable[..., object], capsys: pytest.CaptureFixture[str]
) -> None:
    room = tmp_path / "room"
    gige_simulator(
        "--width", "96", "--height", "64", "--serial", "GIGE-CAL", "--seed", "13",
        "--room", str(room),
    )  # fmt: skip
    store = tmp_path / "store"
    spec = GeneratorSpec(prep_s=0.02, time_scale=0.1)
    with SimulatedGenerator(spec, seed=17, room=Room(room)) as generator:
        rc = main([
            "calibrate", "all", "--detector", URL, "--generator", generator.device_path,
            "--yes", "--frames", "4", "--flood-frames", "2", "--store", str(store),
        ])  # fmt: skip
        out, err = capsys.readouterr()
        assert rc == 0, err
        [entry] = CalibrationStore(store).sets()
        manifest = json.loads((store / entry.set_id / "manifest.json").read_text())
        assert manifest["serial"] == "GIGE-CAL" and manifest["levels_ugy"] == [4.0, 8.0, 16.0]
        assert (manifest["n_dark"], manifest["n_flood"]) == (4, 6)
        commands = list(generator.model.commands)
        assert commands.count("EXP") == commands.count("PREP") == 9
        assert "(0 rejected)" in out

        rc = main([
            "expose", "--detector", URL, "--generator", generator.device_path,
            "--patient-id", "P-2", "--patient-name", "Doe^John", "--kv", "70", "--mas", "1",
            "--out", str(tmp_path / "out"), "--store", str(store),
        ])  # fmt: skip
        out = capsys.readouterr().out
        assert rc == 0, out
        assert list(generator.model.commands).count("EXP") == 10
    assert f"calibration: set {entry.set_id}, valid" in out
    uid = next(line.split()[-1] for line in out.splitlines() if line.startswith("SOP Instance"))
    ds = pydicom.dcmread(tmp_path / "out" / "outbox" / "objects" / f"{uid}.dcm")
    assert ds.AcquisitionDeviceProcessingDescription.endswith(f"calibration {entry.set_id}")

"""``panelgate calibrate --generator``: floods of any panel fired through the generator (issue 12).

The pty simulated generator and a ``usb://sim`` panel stand in one simulated X-ray room:
the panel gets its dose only from the generator's exposures through the room (its
calibration source by hand is a tripwire here). Darks are read with no beam; each flood
is one exposure of the workflow, checked before it is accepted.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from panelgate.acquisition.cli import main
from panelgate.calibration import CalibrationStore
from panelgate.simulators import Room, SimulatedDetector
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator
from panelgate.simulators.usb import SimulatedUsbPanel

FAST = GeneratorSpec(prep_s=0.02, time_scale=0.1)
FRAMES = ["--frames", "4", "--flood-frames", "2"]


@pytest.fixture
def generator(tmp_path: Path) -> Iterator[SimulatedGenerator]:
    with SimulatedGenerator(FAST, seed=11, room=Room(tmp_path / "room")) as sim:
        yield sim


@pytest.fixture(autouse=True)
def _no_dose_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """The panel's dose must come through the room: its calibration source is a tripwire."""

    def tripwire(*args: object, **kwargs: object) -> None:
        raise AssertionError("calibrate --generator dosed the simulated panel by hand")

    monkeypatch.setattr(SimulatedUsbPanel, "irradiate", tripwire)
    monkeypatch.setattr(SimulatedDetector, "irradiate", tripwire)


def _url(tmp_path: Path, scheme: str = "usb://sim", **keys: str) -> str:
    query = "".join(f"&{k}={v}" for k, v in keys.items())
    room = tmp_path / "room"
    return f"{scheme}?width=96&height=96&seed=8&serial=GEN-CAL&room={room}{query}"


def _calibrate(tmp_path: Path, generator: SimulatedGenerator, *extra: str, url: str = "") -> int:
    return main([
        "calibrate", "all", "--detector", url or _url(tmp_path),
        "--generator", generator.device_path, *FRAMES, "--store", str(tmp_path / "store"), *extra,
    ])  # fmt: skip


def _sent(generator: SimulatedGenerator, name: str) -> int:
    return list(generator.model.commands).count(name)


def test_calibrate_all_fires_one_exposure_per_flood_and_expose_uses_the_set(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _calibrate(tmp_path, generator, "--yes") == 0
    out, err = capsys.readouterr()
    [entry] = CalibrationStore(tmp_path / "store").sets()
    manifest = json.loads((tmp_path / "store" / entry.set_id / "manifest.json").read_text())
    assert manifest["levels_ugy"] == [4.0, 8.0, 16.0]
    assert (manifest["n_dark"], manifest["n_flood"]) == (4, 3 * 2)
    # Each level: one discarded flood and two kept; darks and the lag dark fire nothing.
    assert _sent(generator, "EXP") == _sent(generator, "PREP") == 3 * (2 + 1)
    assert generator.model.exposures == 9
    assert "remove every object from the beam" in err and "1.8 m" in err
    assert "4 µGy: 70 kV, 0.339 mAs" in err, "the technique of the documented tube model"
    assert f"9 floods fired at 70 kV through {generator.device_path} (0 rejected)" in out

    rc = main([
        "expose", "--detector", _url(tmp_path), "--generator", generator.device_path,
        "--patient-id", "P-1", "--patient-name", "Doe^Jane", "--kv", "70", "--mas", "1",
        "--out", str(tmp_path / "out"), "--store", str(tmp_path / "store"),
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"calibration: set {entry.set_id}, valid" in out and "quick calibration" not in out
    uid = next(line.split()[-1] for line in out.splitlines() if line.startswith("SOP Instance"))
    ds = pydicom.dcmread(tmp_path / "out" / "outbox" / "objects" / f"{uid}.dcm")
    assert ds.AcquisitionDeviceProcessingDescription.endswith(f"calibration {entry.set_id}")
    assert _sent(generator, "EXP") == 10


def test_an_object_in_the_field_is_rejected_naming_the_level_and_nothing_is_stored(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _url(tmp_path, phantom="wedge")
    assert _calibrate(tmp_path, generator, "--yes", url=url) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("panelgate: error: flood at 4 µGy rejected 3 time(s)"), err
    assert "non-uniform" in last and "Traceback" not in err
    assert err.count("rejected flood at 4 µGy: non-uniform") == 3
    assert _sent(generator, "EXP") == 3, "the first flood and [calibration] flood_retries = 2"
    assert not (tmp_path / "store").exists() or not CalibrationStore(tmp_path / "store").sets()


def test_a_level_the_generator_cannot_give_is_refused_before_the_first_prep(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 0.5 µGy at 70 kV and 1.8 m is 0.042 mAs: 0.21 ms at 200 mA, below the 1 ms minimum.
    assert _calibrate(tmp_path, generator, "--yes", "--levels", "0.5,8") == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "flood level 0.5 µGy needs 0.0423 mAs at 70 kV" in err and "1-5000 ms" in err
    assert _sent(generator, "PREP") == _sent(generator, "EXP") == 0


def test_a_configured_tube_output_changes_the_technique(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "panelgate.toml"
    config.write_text("[calibration]\ntube_output_ugy_per_mas = 5.0\nflood_retries = 0\n")
    # Ten times less output promised: ten times the mAs, so the panel gets ten times the
    # wanted dose (40 µGy at 2000 counts/µGy is beyond 16 bits): the flood is saturated.
    assert _calibrate(tmp_path, generator, "--yes", "--config", str(config)) == 1
    err = capsys.readouterr().err
    assert "4 µGy: 70 kV, 3.39 mAs" in err
    assert "rejected flood at 4 µGy: saturated" in err
    assert _sent(generator, "EXP") == 1


def test_without_yes_and_without_a_terminal_nothing_moves(
    generator: SimulatedGenerator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\ny\ny\n"))
    assert _calibrate(tmp_path, generator) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "confirm each flood level on a terminal" in err and "--yes" in err
    assert not generator.model.commands, "not even the generator was asked anything"


def _on_a_terminal(argv: list[str], answers: str) -> subprocess.CompletedProcess[str]:
    """Run panelgate with a real terminal (a pty) as its standard input, answers typed."""
    main_fd, terminal = os.openpty()
    try:
        os.write(main_fd, answers.encode())
        script = Path(sys.executable).with_name("panelgate")
        return subprocess.run(
            [str(script), *argv], stdin=terminal, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(terminal)
        os.close(main_fd)


def test_the_operator_confirms_each_level_on_the_terminal(
    generator: SimulatedGenerator, tmp_path: Path
) -> None:
    argv = [
        "calibrate", "all", "--detector", _url(tmp_path), "--generator", generator.device_path,
        *FRAMES, "--store", str(tmp_path / "store"),
    ]  # fmt: skip
    proc = _on_a_terminal(argv, "y\ny\nn\n")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("? [y/N]") == 3
    assert "stopped by the operator before the 16 µGy floods; nothing stored" in proc.stderr
    assert _sent(generator, "EXP") == 2 * 3, "the two confirmed levels only"
    assert not CalibrationStore(tmp_path / "store").sets()

    proc = _on_a_terminal(argv, "y\ny\ny\n")
    assert proc.returncode == 0, proc.stderr
    assert len(CalibrationStore(tmp_path / "store").sets()) == 1


def test_a_rejected_flood_is_fired_again_only_when_the_operator_says_so(
    generator: SimulatedGenerator, tmp_path: Path
) -> None:
    argv = [
        "calibrate", "all", "--detector", _url(tmp_path, phantom="chest"),
        "--generator", generator.device_path, *FRAMES, "--store", str(tmp_path / "store"),
    ]  # fmt: skip
    proc = _on_a_terminal(argv, "y\ny\nn\n")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("rejected flood at 4 µGy: non-uniform") == 2
    assert "Fire this flood again? [y/N]" in proc.stderr
    assert "flood at 4 µGy rejected 2 time(s)" in proc.stderr.strip().splitlines()[-1]
    assert _sent(generator, "EXP") == 2


def test_the_in_process_generator_on_a_room_and_a_gain_update(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ["--store", str(tmp_path / "store"), *FRAMES, "--yes"]
    room = str(tmp_path / "room")
    argv = ["--detector", _url(tmp_path, "sim://"), "--generator", "sim"]
    assert main(["calibrate", "all", *argv, *store]) == 2
    assert "--generator sim needs --room DIR" in capsys.readouterr().err
    assert main(["calibrate", "all", *argv, "--room", room, *store]) == 0
    [first] = CalibrationStore(tmp_path / "store").sets()
    assert "9 floods fired at 70 kV through sim (room " in capsys.readouterr().out
    # The same panel, warmer: its offset drifted, so the new floods give another set.
    warmer = ["--detector", _url(tmp_path, "sim://", temp="34"), "--generator", "sim"]
    assert main(["calibrate", "gain", *warmer, "--room", room, *store]) == 0
    out = capsys.readouterr().out
    assert f"(defects kept from {first.set_id})" in out and "9 floods fired" in out
    assert len(CalibrationStore(tmp_path / "store").sets()) == 2


def test_a_panel_that_does_not_take_software_triggers_is_refused_before_the_darks(
    generator: SimulatedGenerator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _calibrate(tmp_path, generator, "--yes", url=_url(tmp_path, trigger="aed")) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "the panel's trigger source is aed; set it to software" in err
    assert _sent(generator, "PREP") == 0

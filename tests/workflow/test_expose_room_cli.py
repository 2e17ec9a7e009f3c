"""``panelgate expose`` through the simulated X-ray room, in every trigger mode (issue 12).

The pty simulated generator (or ``--generator sim --room DIR``) and a panel on the same
room: the stored DX shows the panel's step wedge; the generator saw one EXP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from panelgate.acquisition.cli import main
from panelgate.acquisition.workflow import TriggerMode
from panelgate.simulators import Room
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator

from .test_room_exposure import _assert_wedge, _url, _wedge_steps

FAST = GeneratorSpec(prep_s=0.05, time_scale=0.1)


@pytest.fixture
def generator(tmp_path: Path) -> Iterator[SimulatedGenerator]:
    with SimulatedGenerator(FAST, seed=3, room=Room(tmp_path / "room")) as sim:
        yield sim


@pytest.mark.parametrize("trigger", list(TriggerMode), ids=lambda t: t.value)
def test_expose_command_through_the_room(
    trigger: TriggerMode, generator: SimulatedGenerator, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url = _url("sim://", tmp_path / "room", trigger)
    rc = main([
        "expose", "--detector", url, "--generator", generator.device_path,
        "--trigger", trigger.value, "--patient-id", "P-1", "--patient-name", "Doe^Jane",
        "--kv", "70", "--mas", "1", "--out", str(tmp_path / "out"), "--quick-calibration",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert generator.model.commands.count("EXP") == 1 and generator.model.exposures == 1
    uid = next(line.split()[-1] for line in out.splitlines() if line.startswith("SOP Instance"))
    ds = pydicom.dcmread(tmp_path / "out" / "outbox" / "objects" / f"{uid}.dcm")
    steps = _wedge_steps(ds.pixel_array)
    _assert_wedge(steps)


def test_expose_with_the_in_process_generator_on_a_room(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    room = tmp_path / "room"
    url = _url("usb://sim", room, TriggerMode.AED)
    rc = main([
        "expose", "--detector", url, "--generator", "sim", "--room", str(room),
        "--trigger", "aed", "--patient-id", "P-1", "--patient-name", "Doe^Jane",
        "--kv", "70", "--mas", "1", "--out", str(tmp_path / "out"), "--quick-calibration",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"on sim (room {room})" in out
    uid = next(line.split()[-1] for line in out.splitlines() if line.startswith("SOP Instance"))
    ds = pydicom.dcmread(tmp_path / "out" / "outbox" / "objects" / f"{uid}.dcm")
    steps = _wedge_steps(ds.pixel_array)
    _assert_wedge(steps)

"""``panelgate grab`` and the frame stacks it writes (issue 6 §5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from panelgate.acquisition.cli import main
from panelgate.acquisition.commands import grab as grab_command
from panelgate.acquisition.stacks import FrameStack, StackError, write_stack
from panelgate.drivers import DetectorInfo
from panelgate.drivers.u3v import U3VDetector
from panelgate.simulators.usb import U3VDeviceModel, UsbFault, open_usb_sim

URL = "sim://?width=64&height=48&seed=2&serial=SN-G"


@pytest.mark.parametrize("fmt", ["npy", "tiff"])
def test_grab_prints_statistics_and_counters_and_saves_the_stack(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["grab", "--detector", URL, "--frames", "3", "--set", "ExposureTime=2000"]
    assert main([*argv, "--dose", "5", "--out", str(tmp_path), "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "mode 64x48-bin1-high-2.0ms" in out
    rows = [line for line in out.splitlines() if line.startswith("frame")]
    assert len(rows) == 3 and all("mean" in r and "std" in r and "max" in r for r in rows)
    assert "counters: " in out
    stack = FrameStack(tmp_path / ("frames.npy" if fmt == "npy" else "frames.tif"))
    assert len(stack) == 3 and stack.shape == (48, 64)
    frames = list(stack)
    assert 5000 < float(np.median(frames[0])) < 20000  # exposed at 5 µGy
    meta = json.loads((tmp_path / "frames.json").read_text())
    assert meta["serial"] == "SN-G" and [f["frame_id"] for f in meta["frames"]] == [1, 2, 3]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "Colour=red"], "unknown feature 'Colour'"),
        (["--set", "Width"], "expected FEATURE=VALUE"),
        (["--set", "Width=abc"], "expected int"),
        (["--set", "Width=32"], "reads 64x48 unbinned"),
        (["--frames", "0"], "--frames must be 1-10000"),
        (["--set", "GevSCPD=100"], "has no GenICam feature map"),
    ],
)
def test_grab_bad_input_is_one_clear_line(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["grab", "--detector", URL, *extra])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_stacks_round_trip_and_refuse_bad_content(tmp_path: Path) -> None:
    frames = [np.full((4, 5), i, np.uint16) for i in range(3)]
    for name in ("a.npy", "a.tif"):
        back = list(FrameStack(write_stack(tmp_path / name, frames)))
        assert [int(f[0, 0]) for f in back] == [0, 1, 2]
    np.save(tmp_path / "single.npy", frames[0])
    assert len(FrameStack(tmp_path / "single.npy")) == 1
    np.save(tmp_path / "float.npy", np.zeros((2, 4, 4), np.float32))
    with pytest.raises(StackError, match="expected uint16 frames"):
        FrameStack(tmp_path / "float.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(StackError, match="unreadable"):
        FrameStack(tmp_path / "junk.npy")
    with pytest.raises(StackError, match="must end in"):
        write_stack(tmp_path / "x.png", frames)
    with pytest.raises(StackError, match="one shape"):
        write_stack(tmp_path / "x.npy", [frames[0], np.zeros((2, 2), np.uint16)])


def test_grab_takes_the_matrix_from_any_detector_it_connects_to(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # usb://sim has no simulator `spec`: the size comes from the detector's own report
    # (DetectorInfo.sensor_width_px/height_px, read from WidthMax/HeightMax over GenCP).
    assert main(["grab", "--detector", "usb://sim?width=96&height=64", "--frames", "2"]) == 0
    out = capsys.readouterr().out
    assert "mode 96x64" in out
    assert len([line for line in out.splitlines() if line.startswith("frame ")]) == 2


# -- continuous stream and reconnection (issue 12, part 2b) ----------------------------------
USB = "usb://sim?width=64&height=48&seed=2&serial=SN-U"


def _unplugging_panel(
    monkeypatch: pytest.MonkeyPatch, unplug_at_trigger: int, replug_at_connect: int | None
) -> U3VDetector:
    """A usb://sim panel that goes away in the middle of trigger N's frame.

    It comes back on connection number ``replug_at_connect`` (1 is grab's first connect),
    or never. No timing: the fault and the replug are tied to the driver's own calls.
    """
    det = open_usb_sim(USB)
    device: U3VDeviceModel = det.simulated_device  # type: ignore[attr-defined]
    calls = {"trigger": 0, "connect": 0}
    trigger, connect = det._do_trigger, det._do_connect

    def counted_trigger() -> None:
        calls["trigger"] += 1
        if calls["trigger"] == unplug_at_trigger:
            device.fault = UsbFault.UNPLUG_MID_FRAME
        trigger()

    def counted_connect() -> DetectorInfo:
        calls["connect"] += 1
        if calls["connect"] == replug_at_connect:
            device.plugged = True
        return connect()

    monkeypatch.setattr(det, "_do_trigger", counted_trigger)
    monkeypatch.setattr(det, "_do_connect", counted_connect)
    monkeypatch.setattr(grab_command, "open_detector", lambda url: det)
    return det


def test_grab_reconnects_after_an_unplug_and_keeps_the_frames_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # unplugged during the 3rd frame; the 1st reconnection attempt finds nothing, the 2nd
    # finds the panel again (connection number 3)
    _unplugging_panel(monkeypatch, unplug_at_trigger=3, replug_at_connect=3)
    argv = ["grab", "--detector", USB, "--frames", "5", "--set", "ExposureTime=2000"]
    assert main([*argv, "--out", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reconnects"] == 1
    assert len(summary["frames"]) == 5 and summary["saved"]["frames"] == 5
    ids = [f["frame_id"] for f in summary["frames"]]
    assert ids == sorted(ids) and len(set(ids)) == 5  # the lost 3rd block is not among them
    assert 3 not in ids
    assert summary["stream"]["delivered"] == 3 and summary["stream"]["dropped"] == 0
    assert len(FrameStack(tmp_path / "frames.npy")) == 5
    meta = json.loads((tmp_path / "frames.json").read_text())
    assert meta["counters"]["reconnects"] == 1


def test_grab_that_cannot_reconnect_saves_the_partial_stack_and_says_how_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _unplugging_panel(monkeypatch, unplug_at_trigger=3, replug_at_connect=None)
    argv = ["grab", "--detector", USB, "--frames", "5", "--reconnects", "2"]
    assert main([*argv, "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1, err
    assert "2 reconnection attempt(s) failed" in err[0] and "no USB3 Vision device" in err[0]
    assert f"2 of 5 frame(s) saved to {tmp_path / 'frames.npy'}" in err[0]
    assert "Traceback" not in captured.err
    assert "link lost after 2 frame(s)" in captured.out
    stack = FrameStack(tmp_path / "frames.npy")
    assert len(stack) == 2
    meta = json.loads((tmp_path / "frames.json").read_text())
    assert [f["frame_id"] for f in meta["frames"]] == [1, 2]
    assert meta["requested_frames"] == 5


def test_grab_without_reconnects_stops_at_the_first_loss_and_says_nothing_was_saved(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _unplugging_panel(monkeypatch, unplug_at_trigger=2, replug_at_connect=None)
    assert main(["grab", "--detector", USB, "--frames", "3", "--reconnects", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 of 3 frame(s) received, not saved (no --out)" in err[0], err

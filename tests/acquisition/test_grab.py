"""``panelgate grab`` and the frame stacks it writes (issue 6 §5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from panelgate.acquisition.cli import main
from panelgate.acquisition.stacks import FrameStack, StackError, write_stack

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

"""Output files are written whole or not at all, and a storage failure is one line, exit 1.

Issue 11 §2: ``grab --out``, ``correct``, ``calibration export`` and previews write through
one primitive (:mod:`panelgate.drivers.fsio`). A full disk is a 256 KiB tmpfs mounted in
the test, a read-only folder a tmpfs mounted ``ro`` (root ignores permission bits), and a
denied permission a subprocess without CAP_DAC_OVERRIDE. Mounting needs root: without it
the test is skipped, or fails under ``PANELGATE_REQUIRE_PEERS=1``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from panelgate.acquisition.cli import main
from panelgate.acquisition.preview import write_preview
from panelgate.calibration import CalibrationStore
from panelgate.drivers import StorageError
from panelgate.drivers.fsio import AtomicFiles
from panelgate.gateway.dicom import Window
from panelgate.simulators import PanelModel, PanelSpec

REQUIRE = os.environ.get("PANELGATE_REQUIRE_PEERS") == "1"
BIG_GRAB = ["grab", "--detector", "sim://?width=128&height=128&seed=3", "--frames", "10"]
"""Ten 128² uint16 frames: 320 KiB, more than the 256 KiB file system holds."""


def _one_line(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("panelgate: error: "), err
    for word in words:
        assert word in lines[0], err
    return lines[0]


def _calibrated(tmp_path: Path, size: int = 128) -> tuple[Path, str, PanelModel]:
    """A calibration store with one set for a size² panel, from recorded stacks."""
    model = PanelModel(PanelSpec(width=size, height=size), seed=5)
    np.save(tmp_path / "d.npy", np.stack([model.read() for _ in range(4)]))
    np.save(tmp_path / "f.npy", np.stack([model.read(8.0) for _ in range(4)]))
    store = tmp_path / "store"
    argv = ["calibrate", "all", "--darks", str(tmp_path / "d.npy")]
    argv += ["--floods", str(tmp_path / "f.npy"), "--serial", "S", "--store", str(store)]
    assert main(argv) == 0
    [entry] = CalibrationStore(store).sets()
    return store, entry.set_id, model


# -- a full disk ------------------------------------------------------------------------


def test_grab_on_a_full_disk_is_one_line_and_leaves_nothing(
    mount: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    full = mount("full")
    assert main([*BIG_GRAB, "--out", str(full)]) == 1
    _one_line(capsys, str(full / "frames.npy"), "no space left")
    assert os.listdir(full) == [], "no partial stack, no temporary file, no frames.json"


def test_grab_on_a_full_disk_keeps_the_previous_stack_whole(
    mount: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    full = mount("full")
    small = ["grab", "--detector", "sim://?width=32&height=32&seed=1", "--out", str(full)]
    assert main(small) == 0
    before = {p.name: p.read_bytes() for p in full.iterdir()}
    assert set(before) == {"frames.npy", "frames.json"}
    capsys.readouterr()
    assert main([*BIG_GRAB, "--out", str(full)]) == 1
    _one_line(capsys, "no space left")
    assert {p.name: p.read_bytes() for p in full.iterdir()} == before


def test_correct_on_a_full_disk_is_one_line_and_leaves_nothing(
    tmp_path: Path, mount: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, set_id, model = _calibrated(tmp_path)
    np.save(tmp_path / "raw.npy", np.stack([model.read(8.0) for _ in range(10)]))
    full = mount("full")
    capsys.readouterr()
    argv = ["correct", "--calibration", set_id, str(tmp_path / "raw.npy")]
    assert main([*argv, str(full / "out.tif"), "--store", str(store)]) == 1
    _one_line(capsys, str(full / "out.tif"), "no space left")
    assert os.listdir(full) == []


def test_calibration_export_on_a_full_disk_writes_no_map_at_all(
    tmp_path: Path, mount: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, set_id, _ = _calibrated(tmp_path, size=192)  # the maps: ~350 KiB, the first fit
    full = mount("full")
    capsys.readouterr()
    assert main(["calibration", "export", set_id, "--out", str(full), "--store", str(store)]) == 1
    _one_line(capsys, str(full), "no space left")
    assert os.listdir(full) == [], "the maps that fitted were removed with the rest"


def test_preview_on_a_full_disk_raises_storage_error_and_leaves_nothing(
    mount: Callable[..., Path],
) -> None:
    full = mount("full")
    noise = np.random.default_rng(0).integers(0, 65535, (1024, 1024), dtype=np.uint16)
    with pytest.raises(StorageError, match="no space left") as excinfo:
        write_preview(noise, Window(32768.0, 65536.0), full / "p.png")
    assert str(full / "p.png") in str(excinfo.value)
    assert os.listdir(full) == []


def test_preview_is_private_and_whole(tmp_path: Path) -> None:
    pixels = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    path = write_preview(pixels, Window(2048.0, 4096.0), tmp_path / "p.png")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"\x89PNG") and os.listdir(tmp_path) == ["p.png"]


# -- read-only, missing and forbidden folders -------------------------------------------


@pytest.mark.parametrize("command", ["grab", "correct", "export"])
def test_read_only_folder_is_one_line_exit_1(
    command: str, tmp_path: Path, mount: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, set_id, model = _calibrated(tmp_path, size=32)
    np.save(tmp_path / "raw.npy", np.stack([model.read(8.0) for _ in range(2)]))
    ro = mount("ro", ro=True)
    capsys.readouterr()
    argv = {
        "grab": ["grab", "--detector", "sim://?width=32&height=32", "--out", str(ro)],
        "correct": ["correct", "--calibration", set_id, str(tmp_path / "raw.npy"),
                    str(ro / "out.npy"), "--store", str(store)],
        "export": ["calibration", "export", set_id, "--out", str(ro), "--store", str(store)],
    }[command]  # fmt: skip
    assert main(argv) == 1
    _one_line(capsys, str(ro), "read-only")
    assert os.listdir(ro) == []


def test_missing_output_folder_of_correct_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, set_id, model = _calibrated(tmp_path, size=32)
    np.save(tmp_path / "raw.npy", np.stack([model.read(8.0) for _ in range(2)]))
    capsys.readouterr()
    out = tmp_path / "no" / "such" / "out.npy"
    argv = ["correct", "--calibration", set_id, str(tmp_path / "raw.npy"), str(out)]
    assert main([*argv, "--store", str(store)]) == 1
    _one_line(capsys, str(out), "no such folder")
    assert not (tmp_path / "no").exists()


def test_output_folder_that_cannot_be_created_is_one_line(
    mount: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ro = mount("ro", ro=True)
    out = ro / "new"
    assert main(["grab", "--detector", "sim://?width=32&height=32", "--out", str(out)]) == 1
    _one_line(capsys, f"cannot create the folder {out}", "read-only")


def test_permission_denied_is_one_line_exit_1(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        message = "dropping CAP_DAC_OVERRIDE needs root and setpriv (util-linux)"
        if REQUIRE:
            pytest.fail(message + " and PANELGATE_REQUIRE_PEERS=1")
        pytest.skip(message)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    exe = Path(sys.executable).parent / "panelgate"
    argv = [str(exe), "grab", "--detector", "sim://?width=32&height=32", "--out", str(locked)]
    proc = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *argv],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert str(locked / "frames.npy") in lines[0] and "permission denied" in lines[0]
    assert os.listdir(locked) == []


# -- correct never writes over its input ------------------------------------------------


def _same_file_names(tmp_path: Path, raw: Path) -> dict[str, str]:
    (tmp_path / "link.npy").symlink_to(raw)
    os.link(raw, tmp_path / "hard.npy")
    (tmp_path / "sub").mkdir()
    return {
        "same path": str(raw),
        "relative": "raw.npy",
        "dotted": "sub/../raw.npy",
        "symlink": str(tmp_path / "link.npy"),
        "hard link": str(tmp_path / "hard.npy"),
    }


@pytest.mark.parametrize("how", ["same path", "relative", "dotted", "symlink", "hard link"])
def test_correct_refuses_output_equal_to_input_before_reading(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "raw.npy"
    raw.write_bytes(b"not even a stack: the refusal comes before any reading")
    before = raw.read_bytes()
    output = _same_file_names(tmp_path, raw)[how]
    monkeypatch.chdir(tmp_path)
    # No calibration set 'nope' either: the refusal comes before the store is read.
    assert main(["correct", "--calibration", "nope", str(raw), output]) == 2
    _one_line(capsys, "is the INPUT file")
    assert raw.read_bytes() == before


# -- the primitive ----------------------------------------------------------------------


def test_atomic_files_appear_together_or_not_at_all(tmp_path: Path) -> None:
    (tmp_path / "b.bin").write_bytes(b"old")
    with pytest.raises(RuntimeError), AtomicFiles() as files:
        with files.open(tmp_path / "a.bin") as fh:
            fh.write(b"new a")
        with files.open(tmp_path / "b.bin") as fh:
            fh.write(b"new b")
        raise RuntimeError("a failure after both were written")
    assert sorted(os.listdir(tmp_path)) == ["b.bin"] and (tmp_path / "b.bin").read_bytes() == b"old"

    with AtomicFiles() as files:
        with contextlib.suppress(ValueError), files.open(tmp_path / "half.bin") as fh:
            fh.write(b"half")
            raise ValueError("a writer failed, and its caller carried on")
        with files.path(tmp_path / "a.npy", 0o644) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".npy" and tmp.name.startswith(".")
            np.save(tmp, np.arange(3))
    assert sorted(os.listdir(tmp_path)) == ["a.npy", "b.bin"], "the failed file is not kept"
    assert (tmp_path / "a.npy").stat().st_mode & 0o777 == 0o644
    assert np.load(tmp_path / "a.npy").tolist() == [0, 1, 2]


def test_grab_into_a_read_only_folder_is_refused_before_any_frame_is_taken(
    mount: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ro = mount("ro", ro=True)
    assert main([*BIG_GRAB, "--out", str(ro)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "", "the panel was not used: no frame, no statistics"
    assert "read-only" in captured.err and len(captured.err.strip().splitlines()) == 1

"""The calibration store: round trip, atomic private files, and every refusal names the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from panelgate.calibration import (
    CalibrationCorrupt,
    CalibrationFormatError,
    CalibrationMismatch,
    CalibrationNotFound,
    CalibrationSet,
    PiecewiseGain,
)
from panelgate.calibration.store import MANIFEST, CalibrationStore


def _calset(serial: str = "SN1", mode: str = "M1", pwl: bool = True) -> CalibrationSet:
    rng = np.random.default_rng(len(serial) + len(mode))
    h, w = 16, 12
    dark = rng.normal(1000, 10, (h, w)).astype(np.float32)
    gain = rng.normal(1, 0.05, (h, w)).astype(np.float32)
    defects = (rng.random((h, w)) < 0.05).astype(np.uint8)
    piecewise = None
    if pwl:
        piecewise = PiecewiseGain(
            np.full((2, h, w), 1000, np.float32) * np.array([1, 2], np.float32)[:, None, None],
            rng.uniform(0.9, 1.1, (3, h, w)).astype(np.float32),
            np.array([1000.0, 2000.0]),
            (2.0, 4.0, 8.0),
        )
    return CalibrationSet(serial, mode, dark, gain, defects, temp_c=31.0, pwl=piecewise)


def test_round_trip_keeps_every_array_and_the_id(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path / "cal")
    cal = _calset()
    path = store.save(cal)
    back = store.load(cal.set_id, serial="SN1", mode_key="M1")
    assert back.set_id == cal.set_id and back.temp_c == 31.0
    assert back.pwl is not None and cal.pwl is not None
    np.testing.assert_array_equal(back.pwl.slopes, cal.pwl.slopes)
    np.testing.assert_array_equal(back.defects, cal.defects)
    assert back.pwl.levels_ugy == (2.0, 4.0, 8.0)
    assert store.save(cal) == path  # idempotent
    [entry] = store.sets()
    assert entry.set_id == cal.set_id and entry.segments == 3


def test_files_are_private_and_no_temporary_is_left(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path / "cal")
    path = store.save(_calset(pwl=False))
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o700)
    for f in path.iterdir():
        assert oct(os.stat(f).st_mode & 0o777) == oct(0o600), f
    assert [p.name for p in store.root.iterdir()] == [path.name]


def test_select_picks_the_set_of_this_detector_and_mode(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    store.save(_calset("SN1", "M1"))
    store.save(_calset("SN1", "M2"))
    assert store.select("SN1", "M2").mode_key == "M2"
    with pytest.raises(CalibrationNotFound, match=r"'M3'.*stored modes: M1, M2"):
        store.select("SN1", "M3")


def test_another_serial_or_mode_is_refused_naming_the_file(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    cal = _calset()
    path = store.save(cal)
    with pytest.raises(CalibrationMismatch, match=rf"{path / MANIFEST}.*'SN1', not 'SN9'"):
        store.load(cal.set_id, serial="SN9")
    with pytest.raises(CalibrationMismatch, match="readout mode 'M1', not 'M7'"):
        store.load(cal.set_id, mode_key="M7")


def test_truncated_and_corrupt_files_are_refused(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    cal = _calset()
    path = store.save(cal)
    gain = path / "gain.npy"
    data = gain.read_bytes()
    gain.chmod(0o600)
    gain.write_bytes(data[:-10])
    with pytest.raises(CalibrationCorrupt, match=rf"{gain}.*truncated"):
        store.load(cal.set_id)
    flipped = bytearray(data)
    flipped[-1] ^= 0xFF
    gain.write_bytes(bytes(flipped))
    with pytest.raises(CalibrationCorrupt, match=rf"{gain}: sha256"):
        store.load(cal.set_id)
    gain.unlink()
    with pytest.raises(CalibrationCorrupt, match=rf"{gain}: missing"):
        store.load(cal.set_id)


def test_newer_format_and_unknown_id_are_refused(tmp_path: Path) -> None:
    store = CalibrationStore(tmp_path)
    cal = _calset()
    path = store.save(cal)
    manifest = path / MANIFEST
    content = json.loads(manifest.read_text())
    content["format_version"] = 99
    manifest.write_text(json.dumps(content))
    with pytest.raises(CalibrationFormatError, match=rf"{manifest}: format version 99 is newer"):
        store.load(cal.set_id)
    with pytest.raises(CalibrationNotFound, match="no calibration set 'nope'"):
        store.load("nope")
    with pytest.raises(CalibrationNotFound, match="invalid"):
        store.load("../etc")


@pytest.mark.parametrize("fmt", ["npy", "tiff"])
def test_export_writes_maps_and_the_defect_classes(tmp_path: Path, fmt: str) -> None:
    store = CalibrationStore(tmp_path / "cal")
    cal = _calset()
    store.save(cal)
    written = store.export(cal.set_id, tmp_path / "out", fmt)
    names = {p.name for p in written}
    assert {f"dark.{fmt}", f"gain.{fmt}", f"defects.{fmt}", "defect_flags.json"} <= names
    read = np.load if fmt == "npy" else tifffile.imread
    np.testing.assert_array_equal(read(tmp_path / "out" / f"defects.{fmt}"), cal.defects)
    assert json.loads((tmp_path / "out" / "defect_flags.json").read_text())["cluster"] == 128

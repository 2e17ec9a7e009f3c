"""One pass over a stored map: size and sha256 checked as it is read, then the array parsed.

The array must be what :func:`numpy.load` gives (dtype, shape, order, values), writable;
every refusal names the file, and nothing that is not plain data is loaded.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from panelgate.calibration import CalibrationCorrupt
from panelgate.calibration.verified_npy import read_verified_npy


def _write(path: Path, data: bytes) -> tuple[Path, int, str]:
    path.write_bytes(data)
    return path, len(data), hashlib.sha256(data).hexdigest()


def _npy(arr: npt.NDArray[Any], allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, arr, allow_pickle=allow_pickle)
    return buffer.getvalue()


rng = np.random.default_rng(5)
ARRAYS = {
    "float32 map": rng.normal(1000, 10, (37, 29)).astype(np.float32),
    "uint8 defects": (rng.random((16, 9)) < 0.2).astype(np.uint8),
    "float64 knots": np.array([1000.0, 2000.0]),
    "float32 slopes (K, H, W)": rng.uniform(0.9, 1.1, (3, 8, 5)).astype(np.float32),
    "Fortran order": np.asfortranarray(rng.normal(size=(6, 4)).astype(np.float32)),
    "big-endian": rng.normal(size=(5, 3)).astype(">f4"),
    "empty": np.empty((0, 7, 3), dtype=np.float32),
}


@pytest.mark.parametrize("name", ARRAYS)
def test_the_array_is_what_numpy_load_gives(tmp_path: Path, name: str) -> None:
    path, size, digest = _write(tmp_path / "map.npy", _npy(ARRAYS[name]))
    arr = read_verified_npy(path, size, digest, "test map")
    expected = np.load(path, allow_pickle=False)
    assert arr.dtype == expected.dtype and arr.shape == expected.shape
    assert arr.flags.c_contiguous == expected.flags.c_contiguous and arr.flags.writeable
    assert arr.flags.aligned
    np.testing.assert_array_equal(arr, expected, strict=True)


def test_size_sha256_and_absence_are_refused_naming_the_file(tmp_path: Path) -> None:
    data = _npy(ARRAYS["float32 map"])
    path, size, digest = _write(tmp_path / "gain.npy", data)
    with pytest.raises(CalibrationCorrupt, match=rf"{path}: {size - 1} bytes.*{size}.*truncated"):
        _write(path, data[:-1])
        read_verified_npy(path, size, digest, "gain map")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    _write(path, bytes(flipped))
    with pytest.raises(CalibrationCorrupt, match=rf"{path}: sha256 does not match"):
        read_verified_npy(path, size, digest, "gain map")
    path.unlink()
    with pytest.raises(CalibrationCorrupt, match=rf"{path}: missing \(gain map\)"):
        read_verified_npy(path, size, digest, "gain map")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_npy(np.array([{"a": 1}], dtype=object), allow_pickle=True), "object arrays"),
        (_npy(ARRAYS["float32 map"])[:-8], "bytes of data"),  # the header promises more
        (b"not a numpy file at all, 39 bytes long", "magic"),
    ],
    ids=["pickled objects", "data shorter than its header says", "not .npy"],
)
def test_files_that_are_not_plain_npy_data_are_refused(
    tmp_path: Path, data: bytes, why: str
) -> None:
    path, size, digest = _write(tmp_path / "map.npy", data)  # size and sha256 as recorded
    with pytest.raises(CalibrationCorrupt, match=rf"{path}: unreadable \(.*{why}"):
        read_verified_npy(path, size, digest, "test map")

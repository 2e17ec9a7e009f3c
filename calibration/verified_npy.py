"""Reading a stored ``.npy`` map in one pass: its size and sha256 checked as it is read.

The calibration store keeps each map as a plain ``.npy`` file whose size and sha256 its
manifest records (:mod:`.store`). :func:`read_verified_npy` reads the file once, in
chunks, into memory of its own (not a memory map of the file, which a later write to the
file would change under the check), updating the sha256 with each chunk; only a file of
the recorded size and digest is parsed, and the array is a view of that memory (no
second copy). The format is NumPy's ``.npy`` as :func:`numpy.save` writes it (format
versions 1.0 and 2.0), read as :func:`numpy.load` with ``allow_pickle=False`` reads it:
object arrays are refused.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import CalibrationCorrupt

__all__ = ["read_verified_npy"]

_CHUNK_BYTES = 4 << 20
_HEADER_BYTES_MAX = 1 << 16
"""The most a header may take (NumPy refuses larger ones without ``max_header_size``)."""


def read_verified_npy(path: Path, size_bytes: int, sha256: str, what: str) -> npt.NDArray[Any]:
    """Read ``path`` once, check its size and sha256, and return the array it holds.

    Parameters
    ----------
    path : pathlib.Path
        The ``.npy`` file.
    size_bytes : int
        The file's size the manifest records.
    sha256 : str
        The file's sha256 (hex) the manifest records.
    what : str
        What the file is, for the message when it is missing ("gain map").

    Returns
    -------
    numpy.ndarray
        A writable array over memory of its own, as the file held it.

    Raises
    ------
    CalibrationCorrupt
        The file is missing, of another size (truncated?), fails its sha256, or is not a
        ``.npy`` file of plain data; the message names the file.
    """
    if not path.is_file():
        raise CalibrationCorrupt(f"{path}: missing ({what})")
    try:
        with path.open("rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            if size != size_bytes:
                raise CalibrationCorrupt(
                    f"{path}: {size} bytes, the manifest says {size_bytes} (truncated?)"
                )
            data = np.empty(size, dtype=np.uint8)
            if _read_hashing(f, data.data) != sha256:
                raise CalibrationCorrupt(f"{path}: sha256 does not match the manifest (corrupt)")
    except OSError as exc:
        raise CalibrationCorrupt(f"{path}: unreadable ({exc})") from None
    try:
        return _parse(data)
    except ValueError as exc:
        raise CalibrationCorrupt(f"{path}: unreadable ({exc})") from None


def _read_hashing(f: Any, into: memoryview) -> str:
    """Fill ``into`` from ``f`` chunk by chunk; return the sha256 of what was read.

    A file that ends early (shrunk since its size was taken) hashes what it gave, which
    cannot match a digest of the recorded size.
    """
    digest = hashlib.sha256()
    done = 0
    while done < len(into):
        n = f.readinto(into[done : done + _CHUNK_BYTES])
        if not n:
            break
        digest.update(into[done : done + n])
        done += n
    if done < len(into):
        digest.update(b"\0short read")
    return digest.hexdigest()


def _parse(data: npt.NDArray[np.uint8]) -> npt.NDArray[Any]:
    """Return the array of a ``.npy`` file's bytes as a view of them (ValueError: not one)."""
    header = io.BytesIO(data[:_HEADER_BYTES_MAX].tobytes())
    version = np.lib.format.read_magic(header)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(header)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(header)
    else:  # 3.0 (utf-8 field names) is never written by the store
        raise ValueError(f"npy format version {version[0]}.{version[1]} is not the store's")
    if dtype.hasobject:
        raise ValueError("object arrays cannot be loaded (allow_pickle=False)")
    offset = header.tell()
    count = int(np.prod(shape, dtype=np.int64))
    end = offset + count * dtype.itemsize
    if end > data.size:
        raise ValueError(
            f"{data.size - offset} bytes of data, {shape} {dtype} needs {end - offset}"
        )
    flat = data[offset:end].view(dtype)
    if not flat.flags.aligned:  # a header not padded as NumPy pads it: copy, aligned
        flat = flat.copy()
    if fortran_order:
        return flat.reshape(shape[::-1]).transpose()
    return flat.reshape(shape)

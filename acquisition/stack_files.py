"""What a stack file declares, checked against what it holds, before any frame is read.

A truncated file must not pass for a shorter stack: tifffile reads a multi-page TIFF cut
after its first page as one frame (it only logs the broken page chain), and a ``.npy`` cut
short cannot be mapped. Each function here returns the frames' shapes and type, or raises
:class:`StackError` naming the file and what it declares against what it holds:

- ``.npy``: the header's shape and dtype, and the bytes they need after the header.
- TIFF: the frame count tifffile's own metadata declares (``shaped`` description written by
  ``tifffile.imwrite``, or ImageJ's ``images``), the page chain (any page tifffile cannot
  reach is an error), and every page's strips lying inside the file.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

from .errors import UsageError

__all__ = ["Pages", "StackError", "npy_pages", "tiff_pages"]

Pages = list[tuple[tuple[int, ...], np.dtype[Any]]]
"""The shape and dtype of each frame (each page of a TIFF) in file order."""


class StackError(UsageError):
    """A stack file is missing, unreadable, truncated or does not hold uint16 frames."""


class _Complaints(logging.Filter):
    """Keep what tifffile logs about a file, instead of letting it reach stderr."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())
        return False


@contextlib.contextmanager
def _tifffile_complaints() -> Iterator[_Complaints]:
    """Collect tifffile's warnings and errors while a file is inspected (then detach)."""
    logger = logging.getLogger("tifffile")
    complaints = _Complaints()
    logger.addFilter(complaints)
    try:
        yield complaints
    finally:
        logger.removeFilter(complaints)


def npy_pages(path: Path) -> tuple[Pages, npt.NDArray[Any]]:
    """Map a ``.npy`` file and return its frames' shapes and type, and the mapped array.

    Raises
    ------
    StackError
        Unreadable, or shorter than its header declares.
    """
    try:
        arr: npt.NDArray[Any] = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise StackError(f"{path}: {_npy_problem(path) or f'unreadable .npy ({exc})'}") from None
    frame_shape = tuple(int(n) for n in arr.shape[-2:]) if arr.ndim >= 2 else tuple(arr.shape)
    count = int(arr.shape[0]) if arr.ndim == 3 else 1
    return [(frame_shape, arr.dtype)] * count, arr


def _npy_problem(path: Path) -> str | None:
    """Describe what is wrong with a ``.npy``: not one at all, or truncated; else None."""
    try:
        with path.open("rb") as f:
            if f.read(len(np.lib.format.MAGIC_PREFIX)) != np.lib.format.MAGIC_PREFIX:
                return "unreadable .npy: not a NumPy .npy file (no .npy magic at its start)"
            f.seek(0)
            version = np.lib.format.read_magic(f)
            read = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read is None:
                return None
            shape, _, dtype = read(f)
            header = f.tell()
    except (OSError, ValueError, EOFError):
        return None
    need = header + math.prod(shape) * dtype.itemsize
    size = path.stat().st_size
    if size >= need:
        return None
    return (
        f"truncated: its header declares {tuple(shape)} {dtype} ({need} bytes with the "
        f"header), the file holds {size} bytes"
    )


def tiff_pages(path: Path) -> Pages:
    """Return the shape and dtype of every page of a TIFF, after checking it is whole.

    Raises
    ------
    StackError
        Unreadable; fewer pages than its metadata declares; a broken page chain; or page
        data beyond the end of the file.
    """
    size = path.stat().st_size
    try:
        with _tifffile_complaints() as complaints, tifffile.TiffFile(path) as tif:
            pages = [(_page_shape(p), np.dtype(p.dtype)) for p in tif.pages]
            declared = _declared_frames(tif)
            beyond = [
                i
                for i, p in enumerate(tif.pages)
                if any(o + n > size for o, n in zip(p.dataoffsets, p.databytecounts, strict=False))
            ]
    except (OSError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise StackError(f"{path}: unreadable TIFF ({exc})") from None
    if declared is not None and declared != len(pages):
        raise StackError(
            f"{path}: truncated or damaged: its metadata declares {declared} frames, "
            f"{len(pages)} can be read"
        )
    if complaints.messages:
        raise StackError(f"{path}: damaged TIFF ({complaints.messages[0]})")
    if beyond:
        raise StackError(
            f"{path}: truncated: page {beyond[0] + 1} of {len(pages)} has data beyond the "
            f"end of the file ({size} bytes)"
        )
    return pages


def _page_shape(page: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in page.shape)


def _declared_frames(tif: tifffile.TiffFile) -> int | None:
    """Return the number of 2-D frames the file's own metadata declares, if it does."""
    shaped = tif.shaped_metadata
    if shaped:
        return sum(math.prod(m["shape"][:-2]) if len(m["shape"]) > 2 else 1 for m in shaped)
    imagej = tif.imagej_metadata
    if imagej and isinstance(imagej.get("images"), int):
        return int(imagej["images"])
    return None

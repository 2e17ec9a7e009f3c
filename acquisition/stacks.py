"""Raw frame stacks on disk: ``.npy`` (N, H, W) uint16 or multi-page TIFF, one page a frame.

``panelgate grab`` writes them, ``panelgate calibrate --darks/--floods`` and ``panelgate
correct`` read them. Reading streams: a ``.npy`` stack is memory-mapped and a TIFF is read
page by page, so a 32-frame 3072² stack (600 MB) is never held whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import tifffile

from .stack_files import StackError, npy_pages, tiff_pages

__all__ = ["SUFFIXES", "FrameStack", "StackError", "write_stack"]

SUFFIXES = (".npy", ".tif", ".tiff")

_EXPECTED = "uint16 frames: a (N, H, W) or (H, W) .npy array, or TIFF pages of (H, W)"


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise StackError(f"{path}: a frame stack must end in {', '.join(SUFFIXES)}")
    return "npy" if suffix == ".npy" else "tiff"


class FrameStack:
    """A stack of uint16 frames in a file, read lazily.

    The file is checked whole when the stack is made, before any frame is read: a file
    shorter than its header or metadata declares (:mod:`.stack_files`), another rank or
    dtype, or pages of different shapes are refused, naming the file and what was expected.

    Parameters
    ----------
    path : pathlib.Path
        ``.npy`` holding a (N, H, W) or (H, W) uint16 array, or a TIFF whose pages are
        uint16 frames of one shape.

    Raises
    ------
    StackError
        Missing, unreadable or truncated file, wrong rank or dtype, inconsistent pages.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._kind = _kind(self.path)
        if not self.path.is_file():
            raise StackError(f"{self.path}: no such file")
        self._array: npt.NDArray[np.uint16] | None = None
        if self._kind == "npy":
            pages, arr = npy_pages(self.path)
            if arr.ndim not in (2, 3):
                raise StackError(f"{self.path}: expected {_EXPECTED}; got shape {arr.shape}")
            self._array = arr[np.newaxis] if arr.ndim == 2 else arr
        else:
            pages = tiff_pages(self.path)
        if not pages:
            raise StackError(f"{self.path}: no frames; expected {_EXPECTED}")
        (shape, dtype), count = pages[0], len(pages)
        if dtype != np.uint16 or len(shape) != 2:
            raise StackError(
                f"{self.path}: expected {_EXPECTED}; got {count} frame(s) of {dtype} {shape}"
            )
        odd = next((i for i, page in enumerate(pages) if page != pages[0]), None)
        if odd is not None:
            raise StackError(
                f"{self.path}: frame {odd + 1} is {pages[odd][1]} {pages[odd][0]}, "
                f"frame 1 {dtype} {shape}: all frames must have one shape and type"
            )
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.count = int(count)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[npt.NDArray[np.uint16]]:
        if self._array is not None:
            for frame in self._array:
                yield np.ascontiguousarray(frame)
            return
        with tifffile.TiffFile(self.path) as tif:
            for page in tif.pages:
                yield np.ascontiguousarray(page.asarray())


def write_stack(path: Path, frames: Iterable[npt.NDArray[np.uint16]]) -> Path:
    """Write frames as a ``.npy`` (N, H, W) array or a multi-page TIFF, by ``path``'s suffix.

    Raises
    ------
    StackError
        Unknown suffix, no frames, or frames of differing shape or a type other than uint16.
    """
    path = Path(path)
    kind = _kind(path)
    stack = list(frames)
    if not stack or any(f.dtype != np.uint16 or f.shape != stack[0].shape for f in stack):
        raise StackError(f"{path}: need one or more uint16 frames of one shape to write")
    data = np.stack(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "npy":
        np.save(path, data, allow_pickle=False)
    else:
        tifffile.imwrite(path, data, photometric="minisblack")
    return path

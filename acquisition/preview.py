"""PNG previews of images, for the technician's quick look (not for diagnosis)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from panelgate.drivers.fsio import FILE_MODE, atomic_file
from panelgate.gateway.dicom import Window

__all__ = ["write_preview"]


def write_preview(
    pixels: npt.NDArray[np.uint16],
    window: Window,
    path: Path,
    max_side_px: int = 1024,
    *,
    invert: bool = False,
) -> Path:
    """Write a windowed, downsampled 8-bit PNG of ``pixels``.

    Pillow writes the PNG; the window is the one stored in the DICOM header, so the
    preview shows what a PACS viewer shows first (``invert`` for MONOCHROME1 pixels,
    whose smallest value is shown white). A patient image is patient data: the
    file is created readable only by the agent's user (mode 0600). It is written
    atomically: a reader sees the whole PNG or none.

    Raises
    ------
    panelgate.drivers.StorageError
        The file cannot be written (full disk, read-only or missing folder, permission);
        no partial file is left.
    """
    step = max(1, int(np.ceil(max(pixels.shape) / max_side_px)))
    display = window.apply(pixels[::step, ::step], invert=invert)
    path = Path(path)
    with atomic_file(path, FILE_MODE) as fh:
        Image.fromarray(display).save(fh, format="PNG", optimize=False)
    return path

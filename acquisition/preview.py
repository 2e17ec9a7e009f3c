"""PNG previews of images, for the technician's quick look (not for diagnosis)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from panelgate.gateway.dicom import Window

__all__ = ["write_preview"]


def write_preview(
    pixels: npt.NDArray[np.uint16], window: Window, path: Path, max_side_px: int = 1024
) -> Path:
    """Write a windowed, downsampled 8-bit PNG of ``pixels``.

    Pillow writes the PNG; the window is the one stored in the DICOM header, so the
    preview shows what a PACS viewer shows first.
    """
    step = max(1, int(np.ceil(max(pixels.shape) / max_side_px)))
    display = window.apply(pixels[::step, ::step])
    Image.fromarray(display).save(path, format="PNG", optimize=False)
    return Path(path)

"""PNG previews of images, for the technician's quick look (not for diagnosis)."""

from __future__ import annotations

import os
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
    preview shows what a PACS viewer shows first. A patient image is patient data: the
    file is created readable only by the agent's user (mode 0600).
    """
    step = max(1, int(np.ceil(max(pixels.shape) / max_side_px)))
    display = window.apply(pixels[::step, ::step])
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        Image.fromarray(display).save(fh, format="PNG", optimize=False)
    return path

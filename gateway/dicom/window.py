"""Default display window for For Presentation images (VOI LUT Module, PS3.3 C.11.2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Window", "histogram_window"]


@dataclass(frozen=True)
class Window:
    """A linear VOI window: Window Center (0028,1050) and Window Width (0028,1051)."""

    center: float
    width: float

    def apply(self, pixels: npt.NDArray[np.integer], invert: bool = False) -> npt.NDArray[np.uint8]:
        """Map pixel values to 8-bit display values (PS3.3 C.11.2.1.2.1, LINEAR)."""
        low = self.center - 0.5 - (self.width - 1) / 2
        scaled = (pixels.astype(np.float32) - np.float32(low)) * np.float32(
            255.0 / max(self.width - 1, 1)
        )
        np.clip(scaled, 0, 255, out=scaled)
        if invert:
            scaled = 255 - scaled
        return scaled.astype(np.uint8)


def histogram_window(
    pixels: npt.NDArray[np.integer], low_pct: float = 0.5, high_pct: float = 99.5, step: int = 4
) -> Window:
    """Window spanning the central percentiles of the image's histogram.

    Parameters
    ----------
    pixels : numpy.ndarray
        The image.
    low_pct, high_pct : float
        Percentiles that bound the window.
    step : int
        Subsampling stride in each direction; the histogram of a 3072² image does not need
        every pixel.
    """
    if not 0 <= low_pct < high_pct <= 100:
        raise ValueError(f"need 0 <= low_pct < high_pct <= 100, got {low_pct}, {high_pct}")
    sample = pixels[::step, ::step]
    low, high = (float(v) for v in np.percentile(sample, [low_pct, high_pct]))
    width = max(high - low, 2.0)
    return Window(center=round(low + width / 2, 1), width=round(width, 1))

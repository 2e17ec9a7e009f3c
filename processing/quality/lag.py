"""Image lag: signal carried from an exposure into the dark frames read after it.

First-frame lag is the mean signal of the first dark frame after the exposure over the
exposure's own mean signal (both dark subtracted); residual lag the same for the last
frame of the sequence (IEC 62220-1-1:2015 asks that lag not bias the measurement; AAPM
TG-150 and Siewerdsen & Jaffray, Med Phys 26(8), 1999 for first-frame lag of a-Si panels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Lag", "measure_lag"]


@dataclass(frozen=True)
class Lag:
    """Lag fractions of the frames read after an exposure.

    Attributes
    ----------
    fractions : tuple of float
        Mean signal of each frame after the exposure over the exposure's mean signal.
    """

    fractions: tuple[float, ...]

    @property
    def first_frame(self) -> float:
        """Lag of the first frame after the exposure (fraction)."""
        return self.fractions[0]

    @property
    def residual(self) -> float:
        """Lag of the last frame of the sequence (fraction)."""
        return self.fractions[-1]


def measure_lag(
    exposed: npt.ArrayLike,
    after: npt.ArrayLike,
    dark: npt.ArrayLike,
    *,
    region_fraction: float = 0.5,
) -> Lag:
    """Measure lag from an exposed frame and the dark frames read after it.

    Parameters
    ----------
    exposed : array_like
        The frame of the exposure (2-D).

    after : array_like
        Frames read after it with no beam (3-D, in order; at least one).
    dark : array_like
        Mean dark frame taken before the exposure (2-D), subtracted from every frame.
    region_fraction : float
        Side of the central region measured, as a fraction of the frame.

    Raises
    ------
    ValueError
        Shapes that differ, no frame after, or an exposure without signal.
    """
    e = np.asarray(exposed, dtype=np.float64)
    a = np.asarray(after, dtype=np.float64)
    d = np.asarray(dark, dtype=np.float64)
    if a.ndim == 2:
        a = a[np.newaxis]
    if (
        e.ndim != 2
        or a.ndim != 3
        or a.shape[0] == 0
        or a.shape[1:] != e.shape
        or d.shape != e.shape
    ):
        raise ValueError(
            f"lag needs an exposed frame, dark frames after it and a dark of one shape; got "
            f"{e.shape}, {a.shape}, {d.shape}"
        )
    if not 0 < region_fraction <= 1:
        raise ValueError(f"region_fraction must be in (0, 1], got {region_fraction}")
    h, w = e.shape
    rh, rw = max(1, int(h * region_fraction)), max(1, int(w * region_fraction))
    y0, x0 = (h - rh) // 2, (w - rw) // 2
    roi = np.s_[y0 : y0 + rh, x0 : x0 + rw]
    signal = float(np.median(e[roi] - d[roi]))
    if not signal > 0:
        raise ValueError(f"the exposed frame has no signal above the dark ({signal:.3g} counts)")
    fractions = tuple(float(np.median(frame[roi] - d[roi])) / signal for frame in a)
    return Lag(fractions)

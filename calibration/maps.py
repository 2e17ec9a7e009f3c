"""Building dark, gain and defect maps from frames.

The formulas follow the standard flat-field correction ``C = (R − D) · mean(F − D) / (F − D)``
with the gain map stored pre-divided, ``G = mean(F − D) / (F − D)``, so that the per-frame
work is one subtraction and one multiplication. Defect thresholds follow ASTM E2597: over-
responding above 1.3 × and under-responding below 0.6 × the local mean response, noisy when
the temporal σ in darks is above 6 × the panel's median σ.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from .calset import DefectFlag
from .errors import CalibrationError
from .stats import panel_median

__all__ = [
    "FrameAverager",
    "defect_map",
    "gain_map",
    "local_mean",
    "masked_local_mean",
    "panel_median",
]

OVER_RESPONSE = 1.3
UNDER_RESPONSE = 0.6
NOISY_SIGMA_FACTOR = 6.0
HOT_ROBUST_SIGMAS = 20.0
LOCAL_WINDOW_PX = 21


class FrameAverager:
    """Accumulates frames one at a time; gives their mean and temporal standard deviation.

    Frames are added as they arrive, so a stack never has to be held in memory.
    """

    def __init__(self) -> None:
        self._sum: npt.NDArray[np.float64] | None = None
        self._sumsq: npt.NDArray[np.float64] | None = None
        self.count = 0

    def add(self, pixels: npt.NDArray[np.uint16]) -> None:
        """Add one frame; every frame must have the shape of the first."""
        if self._sum is None or self._sumsq is None:
            self._sum = np.zeros(pixels.shape, dtype=np.float64)
            self._sumsq = np.zeros(pixels.shape, dtype=np.float64)
        elif pixels.shape != self._sum.shape:
            raise CalibrationError(
                f"frame {self.count + 1} has shape {pixels.shape}, the first had {self._sum.shape}"
            )
        values = pixels.astype(np.float64)
        self._sum += values
        values *= values
        self._sumsq += values
        self.count += 1

    def mean(self) -> npt.NDArray[np.float32]:
        """Per-pixel mean in counts."""
        if self._sum is None:
            raise CalibrationError("no frames were averaged")
        return (self._sum / self.count).astype(np.float32)

    def std(self) -> npt.NDArray[np.float32]:
        """Per-pixel temporal standard deviation (population), in counts; needs two frames."""
        if self._sum is None or self._sumsq is None or self.count < 2:
            raise CalibrationError(f"temporal noise needs at least 2 frames, got {self.count}")
        mean = self._sum / self.count
        var = self._sumsq / self.count - mean * mean
        np.maximum(var, 0.0, out=var)
        return np.sqrt(var).astype(np.float32)


@numba.njit(nogil=True, parallel=True, cache=True)
def _box_sum(  # pragma: no cover - compiled
    image: npt.NDArray[np.float64], r: int, out: npt.NDArray[np.float64]
) -> None:
    """Sum over the (2r+1)² window inside the image: running sums along rows, then columns."""
    h, w = image.shape
    rows = np.empty((h, w), dtype=np.float64)
    for y in numba.prange(h):
        acc = 0.0
        for x in range(min(r, w)):
            acc += image[y, x]
        for x in range(w):
            if x + r < w:
                acc += image[y, x + r]
            if x - r - 1 >= 0:
                acc -= image[y, x - r - 1]
            rows[y, x] = acc
    # Columns in blocks of 64, walking down the rows: cache-friendly running sums.
    n_blocks = (w + 63) // 64
    for b in numba.prange(n_blocks):
        x0 = b * 64
        x1 = min(w, x0 + 64)
        col_acc = np.zeros(x1 - x0, dtype=np.float64)
        for y in range(min(r, h)):
            for x in range(x0, x1):
                col_acc[x - x0] += rows[y, x]
        for y in range(h):
            for x in range(x0, x1):
                if y + r < h:
                    col_acc[x - x0] += rows[y + r, x]
                if y - r - 1 >= 0:
                    col_acc[x - x0] -= rows[y - r - 1, x]
                out[y, x] = col_acc[x - x0]


def local_mean(
    image: npt.NDArray[np.floating], window_px: int = LOCAL_WINDOW_PX
) -> npt.NDArray[np.float64]:
    """Mean over a square window centred on each pixel (edges use the part inside the image).

    Running sums (a separable box filter), so its cost does not depend on ``window_px``.
    """
    if window_px < 1 or window_px % 2 == 0:
        raise ValueError(f"window_px must be a positive odd number, got {window_px}")
    h, w = image.shape
    r = window_px // 2
    total = np.empty((h, w), dtype=np.float64)
    _box_sum(np.ascontiguousarray(image, dtype=np.float64), r, total)
    ys, xs = np.arange(h), np.arange(w)
    count_y = np.minimum(ys + r + 1, h) - np.maximum(ys - r, 0)
    count_x = np.minimum(xs + r + 1, w) - np.maximum(xs - r, 0)
    total /= np.outer(count_y, count_x)
    return total


def masked_local_mean(
    image: npt.NDArray[np.floating],
    good: npt.NDArray[np.bool_],
    window_px: int = LOCAL_WINDOW_PX,
) -> npt.NDArray[np.float64]:
    """Mean of the ``good`` pixels in a square window centred on each pixel.

    Defective pixels do not pull their neighbours' reference; a window with no good pixel
    gives NaN.
    """
    values = np.where(good, image, 0.0)
    total = local_mean(values, window_px)
    share = local_mean(good.astype(np.float64), window_px)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(share > 0, total / np.where(share > 0, share, 1.0), np.nan)


def gain_map(
    flood_mean: npt.NDArray[np.float32],
    dark: npt.NDArray[np.float32],
    min_signal_counts: float = 50.0,
) -> npt.NDArray[np.float32]:
    """Gain map ``G = mean(F − D) / (F − D)``; pixels with too little signal get 0.

    Parameters
    ----------
    flood_mean, dark : numpy.ndarray
        Mean flood and dark frames, float32, same shape.
    min_signal_counts : float
        Dark-subtracted flood signal below which a pixel is treated as not responding.

    Raises
    ------
    CalibrationError
        The flood has no usable signal (e.g. the beam was off).
    """
    signal = flood_mean.astype(np.float64) - dark
    responding = signal > min_signal_counts
    if np.count_nonzero(responding) < 0.5 * signal.size:
        median = float(np.median(signal))
        raise CalibrationError(
            f"flood frames show no usable signal (median {median:.0f} counts above dark, "
            f"need > {min_signal_counts:g}): was the beam on?"
        )
    mean_signal = float(signal[responding].mean())
    gain = np.zeros(signal.shape, dtype=np.float32)
    gain[responding] = (mean_signal / signal[responding]).astype(np.float32)
    return gain


def defect_map(
    dark: npt.NDArray[np.float32],
    dark_std: npt.NDArray[np.float32],
    flood_mean: npt.NDArray[np.float32],
    full_scale: int,
) -> npt.NDArray[np.uint8]:
    """Classify defective pixels from the dark and flood statistics.

    Parameters
    ----------
    dark, dark_std : numpy.ndarray
        Mean and temporal σ of the dark frames.
    flood_mean : numpy.ndarray
        Mean of the flood frames.
    full_scale : int
        Largest raw value; a pixel at it in the flood is saturated and counted as hot.

    Returns
    -------
    numpy.ndarray
        uint8 :class:`DefectFlag` bits, 0 for a good pixel.
    """
    flags = np.zeros(dark.shape, dtype=np.uint8)

    dark_median = float(np.median(dark))
    dark_mad = float(np.median(np.abs(dark - dark_median))) * 1.4826
    flags[dark > dark_median + HOT_ROBUST_SIGMAS * max(dark_mad, 1.0)] |= DefectFlag.HOT
    flags[flood_mean >= 0.98 * full_scale] |= DefectFlag.HOT

    signal = flood_mean.astype(np.float64) - dark
    response = signal / local_mean(np.maximum(signal, 0.0))
    flags[response > OVER_RESPONSE] |= DefectFlag.OVER
    flags[~(response >= UNDER_RESPONSE)] |= DefectFlag.DEAD  # also catches NaN

    noise_median = float(np.median(dark_std))
    flags[dark_std > NOISY_SIGMA_FACTOR * max(noise_median, 0.5)] |= DefectFlag.NOISY
    return flags

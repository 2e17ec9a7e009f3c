"""Dark noise and its uniformity, and defective pixels seen in darks and flats.

Dark noise is the temporal noise of each pixel over a stack of dark frames (its standard
deviation, counts); reported are its median over the panel and its non-uniformity (the
spread of the per-pixel noise over its median, robustly: 1.4826 × MAD), with the dark
level's mean and spatial spread. Defective pixels (for a count against the calibration's
defect map, compared by the acquisition layer) are those whose dark noise, dark level or
relative flat response lies far outside the panel's (the classes of IEC 62220-1-1's
"bad pixel" note and of the calibration's own map: noisy, hot, dead or under-responding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["DarkNoise", "dark_noise", "defective_pixels"]

_MAD = 1.4826


@dataclass(frozen=True)
class DarkNoise:
    """Dark-frame figures.

    Attributes
    ----------
    mean_counts : float
        Mean dark level.
    offset_spread_counts : float
        Spatial standard deviation (robust) of the mean dark frame.
    noise_counts : float
        Median over pixels of the temporal noise (one σ).
    noise_nonuniformity : float
        Spread of the per-pixel noise over its median (fraction, robust), less the spread
        a standard deviation from ``frames`` frames has by itself (≈ 1/√(2(n−1)) for
        normal noise, taken out in quadrature): the pixels' own differences.
    noise_spread_measured : float
        That spread as measured, before the sampling spread is taken out.
    frames : int
        Dark frames used.
    """

    mean_counts: float
    offset_spread_counts: float
    noise_counts: float
    noise_nonuniformity: float
    noise_spread_measured: float
    frames: int


def _robust_sigma(values: npt.NDArray[np.float64]) -> float:
    return float(_MAD * np.median(np.abs(values - np.median(values))))


def dark_noise(darks: npt.ArrayLike) -> DarkNoise:
    """Measure dark level, dark noise and its non-uniformity from at least two darks.

    Raises
    ------
    ValueError
        Not a 3-D stack of at least two frames.
    """
    stack = np.asarray(darks, dtype=np.float64)
    if stack.ndim != 3 or stack.shape[0] < 2:
        raise ValueError(f"dark noise needs a stack of at least two darks, got shape {stack.shape}")
    mean = stack.mean(axis=0)
    noise = stack.std(axis=0, ddof=1)
    median_noise = float(np.median(noise))
    measured = _robust_sigma(noise) / median_noise if median_noise > 0 else 0.0
    sampling = 1.0 / np.sqrt(2.0 * (stack.shape[0] - 1))
    return DarkNoise(
        mean_counts=float(mean.mean()),
        offset_spread_counts=_robust_sigma(mean),
        noise_counts=median_noise,
        noise_nonuniformity=float(np.sqrt(max(measured**2 - sampling**2, 0.0))),
        noise_spread_measured=measured,
        frames=int(stack.shape[0]),
    )


def defective_pixels(
    darks: npt.ArrayLike, flat_signal: npt.ArrayLike, *, threshold_sigma: float = 6.0
) -> npt.NDArray[np.bool_]:
    """Flag pixels whose dark noise, dark level or flat response are outliers.

    Parameters
    ----------
    darks : array_like
        Stack of dark frames (at least two).
    flat_signal : array_like
        Mean dark-subtracted flat field (2-D).
    threshold_sigma : float
        Outlier distance in robust standard deviations; the flat response is also judged
        against ±50 % of its local (row × column smooth) level.

    Raises
    ------
    ValueError
        Shapes that differ or fewer than two darks.
    """
    stack = np.asarray(darks, dtype=np.float64)
    flat = np.asarray(flat_signal, dtype=np.float64)
    if stack.ndim != 3 or stack.shape[0] < 2 or stack.shape[1:] != flat.shape:
        raise ValueError(
            f"defects need >= 2 darks and a flat of the same shape; got {stack.shape}, {flat.shape}"
        )
    mean = stack.mean(axis=0)
    noise = stack.std(axis=0, ddof=1)
    bad = np.abs(mean - np.median(mean)) > threshold_sigma * max(_robust_sigma(mean), 1e-9)
    bad |= noise - np.median(noise) > threshold_sigma * max(_robust_sigma(noise), 1e-9)
    level = np.median(flat, axis=1, keepdims=True) * np.median(flat, axis=0, keepdims=True)
    level /= max(float(np.median(flat)), 1e-9)
    relative = flat / np.where(level > 0, level, 1.0)
    bad |= (relative < 0.5) | (relative > 1.5)
    flags: npt.NDArray[np.bool_] = np.asarray(bad, dtype=bool)
    return flags

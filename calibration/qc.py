"""Quality-control metrics of corrected flat images (AAPM TG-150 style).

From Dave et al., Med Phys 39(6):3648 (2012), as summarised in calibration.md §7: remove a
border, tile the image into square ROIs, and per ROI take the mean and σ. Then

* global non-uniformity = (max − min) of the ROI values / their mean;
* local non-uniformity = max over ROIs of |ROI − mean of its 4 neighbours| / the mean;

for the ROI means (signal) and for the ROI σ (noise non-uniformity, the more sensitive
indicator of a bad calibration). :func:`fixed_pattern_cv` separates the pixel-level fixed
pattern from quantum noise in a stack of flat frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Uniformity", "fixed_pattern_cv", "tg150_uniformity"]


@dataclass(frozen=True)
class Uniformity:
    """TG-150 non-uniformities, as fractions of the mean ROI value (0.005 = 0.5 %)."""

    global_signal: float
    local_signal: float
    global_noise: float
    local_noise: float
    rois: int


def _nonuniformity(values: npt.NDArray[np.float64]) -> tuple[float, float]:
    mean = float(values.mean())
    global_nu = float(values.max() - values.min()) / mean
    padded = np.pad(values, 1, mode="constant", constant_values=np.nan)
    neighbours = np.stack(
        [padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
    )
    local = np.abs(values - np.nanmean(neighbours, axis=0))
    return global_nu, float(np.nanmax(local)) / mean


def tg150_uniformity(
    image: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    roi_px: int,
    border_px: int = 0,
    exclude: npt.NDArray[np.bool_] | None = None,
) -> Uniformity:
    """Global and local non-uniformity of signal and noise over square ROIs.

    Parameters
    ----------
    image : numpy.ndarray
        A flat-field image with the pedestal removed (signal proportional to dose).
    roi_px : int
        ROI side in pixels (TG-150: 10 mm).
    border_px : int
        Border removed first (TG-150: 10 mm).
    exclude : numpy.ndarray, optional
        Pixels left out of the ROI statistics (e.g. uncorrectable defects).

    Raises
    ------
    ValueError
        Fewer than 2 × 2 ROIs fit.
    """
    h, w = image.shape
    inner = np.asarray(image, dtype=np.float64)
    inner = inner[border_px : h - border_px, border_px : w - border_px]
    ny, nx = inner.shape[0] // roi_px, inner.shape[1] // roi_px
    if ny < 2 or nx < 2:
        raise ValueError(f"{roi_px}-px ROIs with a {border_px}-px border need a larger image")
    blocks = inner[: ny * roi_px, : nx * roi_px].reshape(ny, roi_px, nx, roi_px).swapaxes(1, 2)
    tiles = blocks.reshape(ny, nx, roi_px * roi_px)
    if exclude is not None:
        ex = exclude[border_px : h - border_px, border_px : w - border_px]
        ex = ex[: ny * roi_px, : nx * roi_px].reshape(ny, roi_px, nx, roi_px).swapaxes(1, 2)
        tiles = np.where(ex.reshape(ny, nx, -1), np.nan, tiles)
    means = np.nanmean(tiles, axis=2)
    sigmas = np.nanstd(tiles, axis=2)
    gs, ls = _nonuniformity(means)
    gn, ln = _nonuniformity(sigmas)
    return Uniformity(gs, ls, gn, ln, ny * nx)


def fixed_pattern_cv(
    frames: npt.NDArray[np.floating] | npt.NDArray[np.integer],
    exclude: npt.NDArray[np.bool_] | None = None,
) -> float:
    """Pixel-level fixed-pattern non-uniformity of a stack of flat frames, quantum noise removed.

    With M the per-pixel mean of ``n`` frames, the spatial variance of M is the fixed
    pattern's variance plus the temporal variance / n; the latter is estimated from the
    frames themselves and subtracted. Returns √(FPN variance) / mean (0 when noise explains
    everything).
    """
    stack = np.asarray(frames, dtype=np.float64)
    n = stack.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 frames, got {n}")
    mean = stack.mean(axis=0)
    temporal = stack.var(axis=0, ddof=1)
    keep = np.ones(mean.shape, bool) if exclude is None else ~exclude
    fpn_var = float(mean[keep].var()) - float(temporal[keep].mean()) / n
    return float(np.sqrt(max(fpn_var, 0.0)) / mean[keep].mean())

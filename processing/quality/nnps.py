"""Normalised noise power spectrum from flat fields (IEC 62220-1-1:2015, 5.6).

Flat fields, linearised (dark subtracted; signal proportional to air kerma), are cut to a
large central region; each frame is detrended by a fitted second-order polynomial
surface; the region is tiled by 256 × 256 ROIs overlapping by half; the NPS is the mean
over ROIs (and frames) of ``|FFT|² · Δx·Δy / (256·256)``, the NNPS that divided by the
squared mean signal. Several frames at one kerma: by default the frames' mean is taken
out first (the fixed pattern a gain calibration removes), the spread scaled by n/(n−1),
so what remains is the temporal (quantum and electronic) noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["REGION_FRACTION", "ROI_PX", "Nnps", "normalised_nps"]

ROI_PX = 256
REGION_FRACTION = 0.8
"""Default share of each side of the frame taken as the central region."""
"""Side of the square ROIs, in pixels (IEC 62220-1-1)."""

_F64 = npt.NDArray[np.float64]
_AXIS_LINES = 7  # rows (columns) each side of an axis averaged into its profile


@dataclass(frozen=True)
class Nnps:
    """A measured normalised noise power spectrum.

    Attributes
    ----------
    nnps_2d_mm2 : numpy.ndarray
        256 × 256 NNPS in mm², zero frequency at the centre (``fftshift``).
    frequency_per_mm : numpy.ndarray
        Frequencies of the 2-D grid's axes and of the profiles, cycles/mm (0 to Nyquist).
    x_mm2, y_mm2 : numpy.ndarray
        Profiles along the x and y frequency axes (±7 lines about the axis, the axis
        itself left out), in mm².
    radial_mm2 : numpy.ndarray
        Mean over rings of the 2-D NNPS at those frequencies, in mm².
    mean_signal : float
        Mean linearised signal of the flats.
    rois : int
        Number of ROIs averaged (over all frames).
    pixel_pitch_mm : float
        Pixel pitch used.
    """

    nnps_2d_mm2: _F64
    frequency_per_mm: _F64
    x_mm2: _F64
    y_mm2: _F64
    radial_mm2: _F64
    mean_signal: float
    rois: int
    pixel_pitch_mm: float


def normalised_nps(
    flats: npt.ArrayLike,
    *,
    pixel_pitch_mm: float,
    region_fraction: float = REGION_FRACTION,
    temporal: bool = True,
) -> Nnps:
    """Measure the NNPS of linearised flat fields (IEC 62220-1-1:2015).

    Parameters
    ----------
    flats : array_like
        One flat field (2-D) or several at one air kerma (3-D, frames first), linearised:
        dark subtracted, signal proportional to air kerma.
    pixel_pitch_mm : float
        Pixel pitch in millimetres (> 0).
    region_fraction : float
        Side of the central region used, as a fraction of the frame (0 < r <= 1).
    temporal : bool
        With several frames, take their mean out first (see the module docstring).

    Returns
    -------
    Nnps

    Raises
    ------
    ValueError
        Not 2-D or 3-D, a central region smaller than 256 × 256, a mean signal that is not
        positive, or bad parameters.
    """
    if not pixel_pitch_mm > 0:
        raise ValueError(f"pixel_pitch_mm must be > 0, got {pixel_pitch_mm}")
    if not 0 < region_fraction <= 1:
        raise ValueError(f"region_fraction must be in (0, 1], got {region_fraction}")
    stack = np.asarray(flats, dtype=np.float64)
    if stack.ndim == 2:
        stack = stack[np.newaxis]
    if stack.ndim != 3 or stack.shape[0] == 0:
        raise ValueError(f"flats must be one 2-D frame or a 3-D stack, got shape {stack.shape}")
    n, h, w = stack.shape
    rh, rw = int(h * region_fraction), int(w * region_fraction)
    if min(rh, rw) < ROI_PX:
        raise ValueError(
            f"the central region ({rw}x{rh} px of {w}x{h}) is smaller than one "
            f"{ROI_PX}x{ROI_PX} ROI"
        )
    y0, x0 = (h - rh) // 2, (w - rw) // 2
    region = stack[:, y0 : y0 + rh, x0 : x0 + rw]
    mean_signal = float(region.mean())
    if not mean_signal > 0 or not np.all(np.isfinite(region)):
        raise ValueError(f"flats must be linearised with a positive mean, got mean {mean_signal}")
    residual = np.stack([frame - _poly2_surface(frame) for frame in region])
    if temporal and n > 1:
        residual = (residual - residual.mean(axis=0)) * np.sqrt(n / (n - 1))
    nps, rois = _mean_roi_power(residual)
    nps *= pixel_pitch_mm**2 / (ROI_PX * ROI_PX)
    nnps_2d = np.fft.fftshift(nps) / mean_signal**2
    frequency = np.arange(ROI_PX // 2 + 1) / (ROI_PX * pixel_pitch_mm)
    return Nnps(
        nnps_2d_mm2=nnps_2d,
        frequency_per_mm=frequency,
        x_mm2=_axis_profile(nnps_2d),
        y_mm2=_axis_profile(nnps_2d.T),
        radial_mm2=_radial_profile(nnps_2d),
        mean_signal=mean_signal,
        rois=rois,
        pixel_pitch_mm=float(pixel_pitch_mm),
    )


def _poly2_surface(frame: _F64) -> _F64:
    """Least-squares fit of a + b·x + c·y + d·x² + e·xy + f·y² over the frame."""
    h, w = frame.shape
    y = np.linspace(-1.0, 1.0, h)[:, np.newaxis]
    x = np.linspace(-1.0, 1.0, w)[np.newaxis, :]
    terms = [np.ones((h, w)), x + 0 * y, y + 0 * x, x * x + 0 * y, x * y, y * y + 0 * x]
    design = np.stack([t.ravel() for t in terms], axis=1)
    coef, *_ = np.linalg.lstsq(design, frame.ravel(), rcond=None)
    surface: _F64 = (design @ coef).reshape(h, w)
    return surface


def _mean_roi_power(residual: _F64) -> tuple[_F64, int]:
    _, h, w = residual.shape
    step = ROI_PX // 2
    total = np.zeros((ROI_PX, ROI_PX))
    count = 0
    for frame in residual:
        for y in range(0, h - ROI_PX + 1, step):
            rows = frame[y : y + ROI_PX]
            tiles = np.stack([rows[:, x : x + ROI_PX] for x in range(0, w - ROI_PX + 1, step)])
            total += (np.abs(np.fft.fft2(tiles)) ** 2).sum(axis=0)
            count += tiles.shape[0]
    return total / count, count


def _axis_profile(nnps_2d: _F64) -> _F64:
    """Mean of the 7 lines each side of the horizontal frequency axis, axis left out."""
    c = ROI_PX // 2
    lines = np.r_[c - _AXIS_LINES : c, c + 1 : c + _AXIS_LINES + 1]
    # fftshift puts f = 0 at column c and Nyquist (−N/2 ≡ +N/2) at column 0.
    half = np.concatenate([nnps_2d[lines, c:], nnps_2d[lines, :1]], axis=1)
    profile: _F64 = half.mean(axis=0)
    return profile


def _radial_profile(nnps_2d: _F64) -> _F64:
    c = ROI_PX // 2
    yy, xx = np.mgrid[-c : ROI_PX - c, -c : ROI_PX - c]
    ring = np.rint(np.hypot(yy, xx)).astype(np.int64).ravel()
    keep = ring <= c
    sums = np.bincount(ring[keep], weights=nnps_2d.ravel()[keep], minlength=c + 1)
    counts = np.bincount(ring[keep], minlength=c + 1)
    profile: _F64 = sums / np.maximum(counts, 1)
    return profile

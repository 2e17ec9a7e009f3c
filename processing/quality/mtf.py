"""Presampling MTF from a slanted edge (IEC 62220-1-1:2015, 5.5 and annex; ISO 12233 method).

The edge is found row by row (centroid of the derivative), a straight line is fitted
through the centres and its angle checked (1.5° to 3° from the pixel axis, as the
standard asks: enough phases for the oversampled ESF, little anisotropy). Every pixel of
the region is projected onto the edge normal and binned at a quarter pixel (the
oversampled edge spread function, ESF); its forward difference is the line spread
function (LSF), windowed (Hann) and Fourier transformed; the modulus, normalised at
f = 0, is the presampling MTF. The quarter-pixel binning and the forward difference
each act as a box of a quarter pixel, whose sinc is divided out.

A vertical edge (the line runs along the columns) gives the MTF along x (rows), a
horizontal edge the MTF along y; the direction is found from the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["EDGE_ANGLE_RANGE_DEG", "EdgeMtf", "edge_line", "presampling_mtf"]

EDGE_ANGLE_RANGE_DEG = (1.5, 3.0)
"""Edge tilt against the pixel axis IEC 62220-1-1 accepts, in degrees (absolute value)."""

_BIN_PX = 0.25
_WINDOW_PX = 12  # half width of the per-row centroid window around the fitted line
_MIN_ROWS = 32

_F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EdgeMtf:
    """A measured presampling MTF.

    Attributes
    ----------
    axis : str
        ``"x"`` (from a vertical edge) or ``"y"`` (from a horizontal edge).
    angle_deg : float
        Edge tilt against the pixel column (or row), signed, in degrees.
    frequency_per_px : numpy.ndarray
        Spatial frequency in cycles per pixel, 0 to 1 (twice Nyquist).
    mtf : numpy.ndarray
        MTF at those frequencies, 1 at f = 0.
    pixel_pitch_mm : float
        Pixel pitch used for the frequencies in cycles/mm.
    """

    axis: str
    angle_deg: float
    frequency_per_px: _F64
    mtf: _F64
    pixel_pitch_mm: float

    @property
    def frequency_per_mm(self) -> _F64:
        """Spatial frequency in cycles per millimetre."""
        return self.frequency_per_px / self.pixel_pitch_mm

    def at(self, frequency_per_px: float | _F64) -> _F64:
        """MTF interpolated (linearly) at ``frequency_per_px`` cycles per pixel."""
        return np.asarray(np.interp(frequency_per_px, self.frequency_per_px, self.mtf))

    @property
    def mtf_at_nyquist(self) -> float:
        """MTF at the Nyquist frequency (0.5 cycles per pixel)."""
        return float(self.at(0.5))

    @property
    def mtf50_per_mm(self) -> float:
        """Lowest frequency (cycles/mm) where the MTF falls to 0.5; NaN if it never does."""
        below = np.flatnonzero(self.mtf < 0.5)
        if below.size == 0 or below[0] == 0:
            return float("nan")
        i = int(below[0])
        f0, f1 = self.frequency_per_px[i - 1], self.frequency_per_px[i]
        m0, m1 = self.mtf[i - 1], self.mtf[i]
        return float(f0 + (m0 - 0.5) * (f1 - f0) / (m0 - m1)) / self.pixel_pitch_mm


def presampling_mtf(
    image: npt.ArrayLike,
    *,
    pixel_pitch_mm: float,
    valid: npt.NDArray[np.bool_] | None = None,
    half_width_px: int = 48,
) -> EdgeMtf:
    """Measure the presampling MTF of a slanted-edge image (IEC 62220-1-1:2015).

    Parameters
    ----------
    image : array_like
        2-D linear image (dark subtracted, gain corrected) of the edge region; the edge
        crosses it from one side to the other.
    pixel_pitch_mm : float
        Pixel pitch in millimetres (> 0).
    valid : numpy.ndarray of bool, optional
        Pixels to use (False: defective, left out); all when omitted.
    half_width_px : int
        Distance from the edge, in pixels, over which the ESF is formed (>= 8).

    Returns
    -------
    EdgeMtf

    Raises
    ------
    ValueError
        Not a 2-D image of at least 32 × 32 pixels, no edge, or an edge tilted outside
        :data:`EDGE_ANGLE_RANGE_DEG`.
    """
    if not pixel_pitch_mm > 0:
        raise ValueError(f"pixel_pitch_mm must be > 0, got {pixel_pitch_mm}")
    if half_width_px < 8:
        raise ValueError(f"half_width_px must be >= 8, got {half_width_px}")
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < _MIN_ROWS:
        raise ValueError(f"edge image must be 2-D, at least 32x32 px; got shape {img.shape}")
    mask = np.ones(img.shape, bool) if valid is None else np.asarray(valid, dtype=bool)
    if mask.shape != img.shape:
        raise ValueError(f"valid mask shape {mask.shape} differs from the image {img.shape}")
    if not np.all(np.isfinite(img[mask])):
        raise ValueError("edge image holds NaN or infinite values")
    axis = _edge_axis(img, mask)
    if axis == "y":
        img, mask = img.T, mask.T
    slope, intercept = edge_line(img, mask)
    angle_deg = float(np.degrees(np.arctan(slope)))
    low, high = EDGE_ANGLE_RANGE_DEG
    if not low <= abs(angle_deg) <= high:
        raise ValueError(
            f"edge angle {abs(angle_deg):.2f} degrees is outside {low}-{high} degrees "
            "(IEC 62220-1-1): tilt the edge device"
        )
    esf = _oversampled_esf(img, mask, slope, intercept, half_width_px)
    frequency, mtf = _mtf_from_esf(esf)
    return EdgeMtf(axis, angle_deg, frequency, mtf, float(pixel_pitch_mm))


def edge_line(image: _F64, valid: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """Fit the edge of a (near-)vertical edge image: column = slope · row + intercept.

    The centre in each row is the centroid of the row's derivative inside a window about
    the first estimate (its largest smoothed step); two passes, outliers left out.

    Raises
    ------
    ValueError
        No edge is found (flat image or too few rows with a step).
    """
    h, w = image.shape
    filled = _interpolate_rows(image, valid)
    deriv = np.diff(filled, axis=1)
    sign = 1.0 if np.sum(deriv) >= 0 else -1.0
    deriv *= sign
    smooth = np.apply_along_axis(lambda r: np.convolve(r, np.ones(5) / 5, "same"), 1, deriv)
    rows = np.arange(h, dtype=np.float64)
    centres = np.argmax(smooth, axis=1).astype(np.float64) + 0.5
    fit = _robust_line(rows, centres, tolerance_px=3.0)
    cols = np.arange(w - 1, dtype=np.float64) + 0.5  # a difference sits between two pixels
    for _ in range(2):
        predicted = fit[0] * rows + fit[1]
        near = np.abs(cols[np.newaxis, :] - predicted[:, np.newaxis]) <= _WINDOW_PX
        weights = np.where(near, np.clip(deriv, 0.0, None), 0.0)
        total = weights.sum(axis=1)
        ok = total > 0
        if np.count_nonzero(ok) < _MIN_ROWS:
            raise ValueError("no edge found in the edge image (too few rows with a step)")
        centres = (weights @ cols)[ok] / total[ok]
        fit = _robust_line(rows[ok], centres, tolerance_px=1.0)
    return float(fit[0]), float(fit[1])


def _interpolate_rows(image: _F64, valid: npt.NDArray[np.bool_]) -> _F64:
    """Replace each row's invalid pixels by linear interpolation between its valid neighbours.

    A defective pixel filled with a row-wide value (the median) would put a false step next
    to the edge, on its dark or bright side, and pull the row's edge centre; its neighbours
    along the row say what it would have been.
    """
    filled = image.copy()
    cols = np.arange(image.shape[1], dtype=np.float64)
    for row in np.flatnonzero(~valid.all(axis=1)):
        good = valid[row]
        if np.count_nonzero(good) >= 2:
            filled[row, ~good] = np.interp(cols[~good], cols[good], image[row, good])
        else:
            filled[row] = np.nan
    nan_rows = np.isnan(filled).any(axis=1)
    filled[nan_rows] = 0.0  # a row without two valid pixels carries no step
    return filled


def _robust_line(rows: _F64, centres: _F64, *, tolerance_px: float) -> tuple[float, float]:
    keep = np.ones(rows.size, bool)
    fit = (0.0, 0.0)
    for _ in range(3):
        if np.count_nonzero(keep) < _MIN_ROWS:
            raise ValueError("no edge found in the edge image (rows do not line up)")
        slope, intercept = np.polyfit(rows[keep], centres[keep], 1)
        fit = (float(slope), float(intercept))
        residual = np.abs(centres - (slope * rows + intercept))
        keep = residual <= max(tolerance_px, 3.0 * float(np.median(residual[keep])))
    return fit


def _edge_axis(image: _F64, valid: npt.NDArray[np.bool_]) -> str:
    """``"x"`` when the intensity steps along the rows (a vertical edge), else ``"y"``."""
    both_x = valid[:, 1:] & valid[:, :-1]
    both_y = valid[1:, :] & valid[:-1, :]
    step_x = abs(float(np.sum(np.diff(image, axis=1), where=both_x)))
    step_y = abs(float(np.sum(np.diff(image, axis=0), where=both_y)))
    if max(step_x, step_y) == 0:
        raise ValueError("no edge found in the edge image (it is flat)")
    return "x" if step_x >= step_y else "y"


def _oversampled_esf(
    image: _F64, valid: npt.NDArray[np.bool_], slope: float, intercept: float, half_width_px: int
) -> _F64:
    h, w = image.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # Pixel centres sit at x + 0.5; the fitted line is in those coordinates.
    distance = (xx + 0.5 - (slope * yy + intercept)) * np.cos(np.arctan(slope))
    use = valid & (np.abs(distance) <= half_width_px)
    n_bins = round(2 * half_width_px / _BIN_PX) + 1
    index = np.rint(distance[use] / _BIN_PX).astype(np.int64) + n_bins // 2
    counts = np.bincount(index, minlength=n_bins)[:n_bins]
    sums = np.bincount(index, weights=image[use], minlength=n_bins)[:n_bins]
    filled = counts > 0
    if np.count_nonzero(filled) < n_bins * 0.9:
        raise ValueError("the edge region is too small for a quarter-pixel ESF")
    centres = np.arange(n_bins, dtype=np.float64)
    esf: _F64 = np.interp(centres, centres[filled], sums[filled] / counts[filled])
    return esf


def _mtf_from_esf(esf: _F64) -> tuple[_F64, _F64]:
    lsf = np.diff(esf)
    if abs(float(lsf.sum())) == 0:
        raise ValueError("no edge found in the edge image (no step across the edge)")
    lsf *= np.sign(lsf.sum())
    lsf = lsf * np.hanning(lsf.size)
    n_fft = max(4096, 1 << int(np.ceil(np.log2(lsf.size))))
    spectrum = np.abs(np.fft.rfft(lsf, n_fft))
    frequency = np.fft.rfftfreq(n_fft, d=_BIN_PX)
    # Quarter-pixel binning and the forward difference: two boxes of _BIN_PX.
    spectrum /= np.sinc(frequency * _BIN_PX) ** 2
    keep = frequency <= 1.0
    mtf: _F64 = spectrum[keep] / spectrum[0]
    return frequency[keep].astype(np.float64), mtf

"""Quality figures of a new calibration set, from the floods it was built from.

Measured once per set, while the build still holds its floods (``acquisition.calrun``),
and kept in the set's manifest (:mod:`.store`). Per flood level:

* **residual PRNU**: the level's mean flood corrected with the new maps (dark
  subtracted, single-point or piecewise gain, no rounding, no pedestal), its σ over
  its mean, over the central region (a border of one ROI side removed, as TG-150 removes
  10 mm) and every pixel the set calls defective left out. It includes the temporal noise
  of the mean of ``n`` frames (σ²/n), as any flat corrected with the set would.
* **NNU**: AAPM TG-150 global noise non-uniformity (Dave et al., Med Phys 39(6):3648,
  2012; calibration.md §7) of the corrected flood frames: ROIs tiled over the same central
  region, per ROI the σ of its good pixels in all ``n`` frames about their common mean,
  ``√(spatial variance of the corrected mean flood + mean(g² s²))`` (exact for a linear
  correction) with ``s`` each pixel's population temporal σ over the ``n`` frames and ``g``
  its gain at that level (the slope of its piecewise gain one ``s`` either side of its
  mean: at a calibrated level each pixel's mean lies on its own break, and its frames fall
  on either segment), then ``(max − min) / mean`` of the ROI σ. Frame-to-frame changes
  common to the panel (tube output) count as noise here, where the σ of one frame would
  not see them. Unknown (NaN) when the build had no per-pixel temporal σ (a single frame
  per level).

Defect counts by ASTM E2597 class come from the defect map itself
(:meth:`.CalibrationSet.defect_counts`). These are one-off summaries of a few maps per
calibration, vectorised numpy, not per-frame kernels.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from .calset import CalibrationSet

__all__ = ["CalibrationQuality", "LevelQuality", "maps_id", "measure_quality", "roi_px"]

_F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LevelQuality:
    """Quality figures at one flood level, as percentages of the mean signal.

    Parameters
    ----------
    air_kerma_ugy : float
        The level's air kerma in µGy (NaN: unknown, e.g. offline stacks).
    residual_prnu_pct : float
        Residual photo-response non-uniformity of the corrected mean flood, in %.
    nnu_pct : float
        TG-150 global noise non-uniformity of one corrected frame, in % (NaN: unknown).
    """

    air_kerma_ugy: float
    residual_prnu_pct: float
    nnu_pct: float = math.nan

    def to_json(self) -> dict[str, float | None]:
        """Return the manifest form (null for unknown values)."""
        return {
            "air_kerma_ugy": _finite(self.air_kerma_ugy),
            "residual_prnu_pct": _finite(self.residual_prnu_pct),
            "nnu_pct": _finite(self.nnu_pct),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LevelQuality:
        """Read the manifest form."""
        return cls(
            _read(doc.get("air_kerma_ugy")),
            _read(doc.get("residual_prnu_pct")),
            _read(doc.get("nnu_pct")),
        )


@dataclass(frozen=True)
class CalibrationQuality:
    """Quality figures of one set, tied to the gain and defect maps they were measured with.

    Parameters
    ----------
    levels : tuple of LevelQuality
        One per flood level, in the order of increasing signal.
    maps_id : str
        :func:`maps_id` of the set measured; a set whose gain or defect maps differ
        (a partial recalibration) does not carry these figures (see :meth:`fits`).
    """

    levels: tuple[LevelQuality, ...]
    maps_id: str

    @property
    def residual_prnu_max_pct(self) -> float:
        """The worst residual PRNU over the levels, in % (NaN when none is known)."""
        return _nanmax([lv.residual_prnu_pct for lv in self.levels])

    @property
    def nnu_max_pct(self) -> float:
        """The worst NNU over the levels, in % (NaN when none is known)."""
        return _nanmax([lv.nnu_pct for lv in self.levels])

    def fits(self, calset: CalibrationSet) -> bool:
        """Whether these figures were measured with ``calset``'s gain and defect maps."""
        return self.maps_id == maps_id(calset)

    def to_json(self) -> dict[str, Any]:
        """Return the manifest form."""
        return {"maps_id": self.maps_id, "levels": [lv.to_json() for lv in self.levels]}

    @classmethod
    def from_json(cls, doc: Any) -> CalibrationQuality | None:
        """Read the manifest form; None when absent (a set written before the figures)."""
        if not isinstance(doc, dict):
            return None
        levels = tuple(LevelQuality.from_json(lv) for lv in doc.get("levels", []))
        return cls(levels, str(doc.get("maps_id", "")))


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _read(value: Any) -> float:
    return math.nan if value is None else float(value)


def _nanmax(values: Sequence[float]) -> float:
    known = [v for v in values if not math.isnan(v)]
    return max(known) if known else math.nan


def maps_id(calset: CalibrationSet) -> str:
    """Content hash of the gain (single and piecewise) and defect maps of ``calset``.

    A refreshed dark keeps it (the figures describe the gain and defect measurement).
    """
    digest = hashlib.sha256()
    arrays = [calset.gain, calset.defects]
    if calset.pwl is not None:
        arrays += [calset.pwl.breaks, calset.pwl.slopes, calset.pwl.knots]
    for arr in arrays:
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()[:16]


def roi_px(shape: tuple[int, int]) -> int:
    """ROI side (and border) in pixels: a twelfth of the shorter side, 8 to 96 pixels.

    TG-150 takes 10 mm; the set does not know its pixel pitch, so the ROIs scale with the
    matrix (about 36 mm on a 43 cm panel), giving about 10 × 10 ROIs on any panel.
    """
    return max(8, min(96, min(shape) // 12))


def corrected_signal(calset: CalibrationSet, flood_mean: npt.NDArray[np.float32]) -> _F64:
    """Correct a mean flood with ``calset``'s dark and gain in float64 (no pedestal, no rounding).

    The per-pixel formulas of :mod:`.reference`, before rounding and defect replacement.
    """
    s = np.asarray(flood_mean, np.float64) - calset.dark
    if calset.pwl is None:
        return s * calset.gain
    k = _segment(calset, s)
    b = np.concatenate([np.zeros((1, *s.shape)), calset.pwl.breaks.astype(np.float64)])
    y = np.concatenate([[0.0], calset.pwl.knots])
    base = np.take_along_axis(b, k[np.newaxis], axis=0)[0]
    result: _F64 = (s - base) * _slope(calset, s, k) + y[k]
    return result


def _segment(calset: CalibrationSet, s: _F64) -> npt.NDArray[np.intp]:
    """Each pixel's piecewise-gain segment at dark-subtracted signal ``s``."""
    assert calset.pwl is not None
    segment: npt.NDArray[np.intp] = np.sum(s[np.newaxis] >= calset.pwl.breaks, axis=0)
    return segment


def _slope(calset: CalibrationSet, s: _F64, k: npt.NDArray[np.intp] | None = None) -> _F64:
    """Each pixel's gain (the correction's slope) at dark-subtracted signal ``s``."""
    if calset.pwl is None:
        return calset.gain.astype(np.float64)
    k = _segment(calset, s) if k is None else k
    slope: _F64 = np.take_along_axis(calset.pwl.slopes, k[np.newaxis], axis=0)[0]
    return slope.astype(np.float64)


def _noise_gain2(calset: CalibrationSet, s: _F64, std: npt.NDArray[np.float32]) -> _F64:
    """Squared gain that the temporal noise of one frame meets: the slope at ``s ± std``.

    A pixel whose mean lies on a break of the piecewise gain sees either segment's slope,
    frame by frame; the mean of the two squared slopes one σ either side follows that.
    """
    low, high = _slope(calset, s - std), _slope(calset, s + std)
    result: _F64 = (low * low + high * high) / 2
    return result


def _tiles(image: _F64, roi: int) -> _F64:
    """Return ``image`` without its ``roi``-pixel border as (ROIs, pixels per ROI)."""
    inner = image[roi:-roi, roi:-roi]
    ny, nx = inner.shape[0] // roi, inner.shape[1] // roi
    blocks = inner[: ny * roi, : nx * roi].reshape(ny, roi, nx, roi).swapaxes(1, 2)
    return blocks.reshape(ny * nx, roi * roi)


def _level(
    calset: CalibrationSet,
    air_kerma_ugy: float,
    flood_mean: npt.NDArray[np.float32],
    noise_std: npt.NDArray[np.float32] | None,
    n_frames: int,
) -> LevelQuality:
    roi = roi_px(calset.shape)
    signal = corrected_signal(calset, flood_mean)
    good = calset.defects == 0
    image = np.where(good, signal, np.nan)
    central = image[roi:-roi, roi:-roi]
    prnu = 100.0 * float(np.nanstd(central) / np.nanmean(central))
    nnu = math.nan
    if noise_std is not None and n_frames >= 2:
        raw_signal = np.asarray(flood_mean, np.float64) - calset.dark
        gain2 = _noise_gain2(calset, raw_signal, noise_std)
        temporal = np.where(good, gain2 * np.square(noise_std, dtype=np.float64), np.nan)
        spatial = np.nanvar(_tiles(image, roi), axis=1)
        frame_var = spatial + np.nanmean(_tiles(temporal, roi), axis=1)
        sigma = np.sqrt(frame_var[np.isfinite(frame_var)])
        if sigma.size >= 4:
            nnu = 100.0 * float((sigma.max() - sigma.min()) / sigma.mean())
    return LevelQuality(air_kerma_ugy, prnu, nnu)


def measure_quality(
    calset: CalibrationSet,
    levels_ugy: Sequence[float],
    flood_means: Sequence[npt.NDArray[np.float32]],
    n_frames: Sequence[int],
    noise_std: Sequence[npt.NDArray[np.float32]] = (),
) -> CalibrationQuality:
    """Measure residual PRNU and NNU per flood level (see the module docstring).

    Parameters
    ----------
    calset : CalibrationSet
        The set just built from these floods.
    levels_ugy : sequence of float
        Air kerma of each level in µGy (NaN: unknown).
    flood_means : sequence of numpy.ndarray
        Each level's mean flood in raw counts (float32, the set's shape).
    n_frames : sequence of int
        Frames averaged into each mean.
    noise_std : sequence of numpy.ndarray, optional
        Each level's per-pixel temporal σ (population, over its ``n_frames``) in counts;
        without it NNU is NaN.

    Raises
    ------
    ValueError
        Sequences of different lengths, or a map of another shape.
    """
    count = len(flood_means)
    if len(levels_ugy) != count or len(n_frames) != count or len(noise_std) not in (0, count):
        raise ValueError(
            f"{count} flood means need as many levels ({len(levels_ugy)}), frame counts "
            f"({len(n_frames)}) and noise maps ({len(noise_std)}, or none)"
        )
    for arr in (*flood_means, *noise_std):
        if arr.shape != calset.shape:
            raise ValueError(f"flood map of shape {arr.shape} does not fit the set {calset.shape}")
    if min(calset.shape) < 3 * roi_px(calset.shape):
        raise ValueError(f"a {calset.shape} set is too small for quality figures")
    measured = [
        _level(calset, level, mean, noise_std[i] if noise_std else None, n_frames[i])
        for i, (level, mean) in enumerate(zip(levels_ugy, flood_means, strict=True))
    ]
    measured.sort(key=lambda lv: (math.isnan(lv.air_kerma_ugy), lv.air_kerma_ugy))
    return CalibrationQuality(tuple(measured), maps_id(calset))

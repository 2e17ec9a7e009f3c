"""Building a complete calibration set from measured dark and flood statistics.

Order (calibration.md §1–4): offset first, then gain from dark-subtracted floods, then the
defect map from both (and from a dark read right after the last flood, for lag); defect
correction is off while the maps are measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .calset import CalibrationSet, Replacement
from .dark import DarkMap
from .defects import DefectThresholds, classify_defects
from .errors import CalibrationError
from .gain import multipoint_gain
from .maps import gain_map, panel_median

__all__ = ["FloodLevel", "build_calibration"]


@dataclass(frozen=True)
class FloodLevel:
    """The mean of the flood frames taken at one dose level.

    Parameters
    ----------
    air_kerma_ugy : float
        Air kerma at the detector, in µGy (NaN when unknown, e.g. offline stacks).
    mean : numpy.ndarray
        float32 mean flood frame, in raw counts.
    n_frames : int
        Frames averaged.
    frame_variance_counts2 : float
        Temporal variance of one frame at this level, the panel's median, in counts²
        (NaN when unknown); the multi-point gain's linearity test uses it as its noise.
    """

    air_kerma_ugy: float
    mean: npt.NDArray[np.float32]
    n_frames: int
    frame_variance_counts2: float = math.nan


def build_calibration(
    dark: DarkMap,
    floods: Sequence[FloodLevel],
    *,
    serial: str,
    full_scale: int,
    lag_dark: npt.NDArray[np.float32] | None = None,
    multipoint: bool = True,
    pedestal_counts: float = 100.0,
    replacement: Replacement = "directional",
    thresholds: DefectThresholds | None = None,
) -> CalibrationSet:
    """Build dark, gain and defect maps into one :class:`CalibrationSet`.

    Parameters
    ----------
    dark : DarkMap
        Offset map (mode key, temperature and time are taken from it).
    floods : sequence of FloodLevel
        One or more dose levels; sorted by their mean signal here.
    serial : str
        Detector serial number the set is tied to.
    full_scale : int
        Largest raw value (``2**bits_stored - 1``).
    lag_dark : numpy.ndarray, optional
        First dark frame after the last flood (enables LAG defects).
    multipoint : bool
        Use the piecewise-linear gain when there are two or more levels.
    pedestal_counts : float
        Constant added after offset subtraction.
    replacement : {"directional", "mean"}
        Defect replacement rule of the correction.
    thresholds : DefectThresholds, optional
        Overrides of the defect thresholds.

    Raises
    ------
    CalibrationError
        Missing floods, floods without signal or saturated, or inconsistent shapes.
    """
    if not floods:
        raise CalibrationError("a calibration needs at least one flood level")
    ordered = sorted(floods, key=lambda f: panel_median(f.mean))
    means = [f.mean for f in ordered]
    for level in ordered:
        if level.mean.shape != dark.mean.shape:
            raise CalibrationError(
                f"flood at {level.air_kerma_ugy} µGy has shape {level.mean.shape}, "
                f"the dark map {dark.mean.shape}"
            )
    mid = means[len(means) // 2]
    single = gain_map(mid, dark.mean)
    pwl = None
    if multipoint and len(ordered) > 1:
        levels = tuple(f.air_kerma_ugy for f in ordered)
        variances = [f.frame_variance_counts2 for f in ordered]
        pwl = multipoint_gain(
            means,
            dark.mean,
            levels_ugy=levels,
            full_scale=full_scale,
            n_frames=[f.n_frames for f in ordered],
            frame_variances=variances if all(v > 0 for v in variances) else (),
        )
    defects = classify_defects(
        dark.mean, dark.std, means, full_scale, lag_dark=lag_dark, thresholds=thresholds
    )
    return CalibrationSet(
        serial=serial,
        mode_key=dark.mode_key,
        dark=dark.mean,
        gain=single,
        defects=defects,
        pedestal_counts=pedestal_counts,
        created_utc=dark.created_utc,
        temp_c=dark.temp_c if not math.isnan(dark.temp_c) else math.nan,
        n_dark=dark.n_frames,
        n_flood=sum(f.n_frames for f in ordered),
        pwl=pwl,
        replacement=replacement,
    )

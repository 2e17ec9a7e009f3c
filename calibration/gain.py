"""Gain (flood) maps: single-point and multi-point piecewise-linear.

Single-point (:func:`panelgate.calibration.maps.gain_map`): the standard flat-field
correction ``C = (R − D) · mean(F − D) / (F − D)`` with the gain map stored pre-divided.
It assumes every pixel responds linearly; "normalization will fail with pixels that are
responding to dose in a non-linear manner" (Varex 4343W manual §10.5.3).

Multi-point (:func:`multipoint_gain`): floods at K ≥ 2 dose levels (vendors use 3–4, e.g.
centre ≈ 1200, 2000, 4000, 8000 ADU) give each pixel K points ``(x_k, y_k)``: its own
dark-subtracted flood signal ``x_k`` and the panel-mean signal ``y_k`` of that level. The
pixel's response is mapped piece by piece onto the panel-mean response through the origin
and these points (last segment extrapolated), which removes per-pixel non-linearity in the
sense of IEC 62220-1 §6.3.1 (linearisation). With K = 1 it is the single-point gain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
import numpy.typing as npt

from .calset import PiecewiseGain
from .errors import CalibrationError
from .maps import panel_median

__all__ = ["MIN_SIGNAL_COUNTS", "SATURATION_MARGIN", "multipoint_gain"]

MIN_SIGNAL_COUNTS = 50.0
"""Dark-subtracted flood signal below which a pixel is taken as not responding."""

SATURATION_MARGIN = 0.9
"""A flood level whose median raw value exceeds this fraction of full scale is refused."""


@numba.njit(nogil=True, parallel=True, cache=True)
def _responding(  # pragma: no cover - compiled
    floods: npt.NDArray[np.float32],
    dark: npt.NDArray[np.float32],
    min_signal: float,
    responding: npt.NDArray[np.bool_],
    row_sums: npt.NDArray[np.float64],
) -> None:
    """Mark pixels responding monotonically above ``min_signal``; sum their signal per row."""
    k, h, w = floods.shape
    for y in numba.prange(h):
        for x in range(w):
            ok = True
            previous = min_signal
            for j in range(k):
                s = float(floods[j, y, x]) - float(dark[y, x])
                if not s > previous:
                    ok = False
                previous = max(s, previous)
            responding[y, x] = ok
            if ok:
                for j in range(k):
                    row_sums[y, j] += float(floods[j, y, x]) - float(dark[y, x])


@numba.njit(nogil=True, parallel=True, cache=True)
def _segments(  # noqa: PLR0917  # pragma: no cover - compiled
    floods: npt.NDArray[np.float32],
    dark: npt.NDArray[np.float32],
    responding: npt.NDArray[np.bool_],
    knots: npt.NDArray[np.float64],
    breaks: npt.NDArray[np.float32],
    slopes: npt.NDArray[np.float32],
) -> None:
    """Per-pixel breaks and segment slopes through the origin and the K points."""
    k, h, w = floods.shape
    for y in numba.prange(h):
        for x in range(w):
            x_prev = 0.0
            y_prev = 0.0
            for j in range(k):
                s = float(floods[j, y, x]) - float(dark[y, x])
                if responding[y, x]:
                    slopes[j, y, x] = (knots[j] - y_prev) / (s - x_prev)
                    if j < k - 1:
                        breaks[j, y, x] = s
                else:
                    slopes[j, y, x] = 0.0
                    if j < k - 1:
                        breaks[j, y, x] = np.inf
                x_prev = s
                y_prev = knots[j]


def multipoint_gain(
    flood_means: Sequence[npt.NDArray[np.float32]],
    dark: npt.NDArray[np.float32],
    levels_ugy: Sequence[float] = (),
    full_scale: int = 65535,
) -> PiecewiseGain:
    """Per-pixel piecewise-linear gain from mean floods at K dose levels.

    Parameters
    ----------
    flood_means : sequence of numpy.ndarray
        Mean flood frame of each level (float32, the dark's shape), any order.
    dark : numpy.ndarray
        Dark map the floods are referred to.
    levels_ugy : sequence of float, optional
        Air kerma of each level, recorded in the result.
    full_scale : int
        Largest raw value.

    Returns
    -------
    PiecewiseGain
        Levels sorted by panel-mean signal. Pixels whose points do not increase (dead,
        saturated) get slope 0 on every segment: the defect map must flag them.

    Raises
    ------
    CalibrationError
        No floods, a flood without usable signal, a saturated level, or two levels too
        close together to define a segment (< 5 % apart).
    """
    if not flood_means:
        raise CalibrationError("multi-point gain needs at least one flood level")
    if levels_ugy and len(levels_ugy) != len(flood_means):
        raise CalibrationError(f"{len(levels_ugy)} levels given for {len(flood_means)} flood means")
    for i, flood in enumerate(flood_means):
        if flood.shape != dark.shape:
            raise CalibrationError(
                f"flood level {i + 1} has shape {flood.shape}, the dark {dark.shape}"
            )
        median_raw = panel_median(flood)
        if median_raw > SATURATION_MARGIN * full_scale:
            raise CalibrationError(
                f"flood level {i + 1} is near saturation (median {median_raw:.0f} of "
                f"{full_scale}): lower the dose"
            )
    medians = [panel_median(f) - panel_median(dark) for f in flood_means]
    order = np.argsort(medians)
    levels = tuple(float(levels_ugy[i]) for i in order) if levels_ugy else ()
    if medians[order[0]] <= MIN_SIGNAL_COUNTS:
        raise CalibrationError(
            f"flood level with median {medians[order[0]]:.0f} counts above dark shows no usable "
            f"signal (need > {MIN_SIGNAL_COUNTS:g}): was the beam on?"
        )
    floods = np.stack([np.asarray(flood_means[i], dtype=np.float32) for i in order])
    dark32 = np.ascontiguousarray(dark, dtype=np.float32)
    h, w = dark.shape
    k = floods.shape[0]
    responding = np.empty((h, w), dtype=np.bool_)
    row_sums = np.zeros((h, k), dtype=np.float64)
    _responding(floods, dark32, MIN_SIGNAL_COUNTS, responding, row_sums)
    n_responding = int(np.count_nonzero(responding))
    if n_responding < 0.5 * responding.size:
        raise CalibrationError("fewer than half the pixels respond monotonically to the floods")
    y = row_sums.sum(axis=0) / n_responding
    if np.any(np.diff(y) < 0.05 * y[1:]):
        raise CalibrationError(
            f"flood levels too close together (panel means {np.round(y).tolist()} counts): "
            "space them at least 5 % apart"
        )
    # Segment k runs from point k (the origin for k = 0) to point k + 1; the last one is
    # extrapolated beyond the highest level. Non-responding pixels: slope 0, no breaks.
    breaks = np.empty((k - 1, h, w), dtype=np.float32)
    slopes = np.empty((k, h, w), dtype=np.float32)
    _segments(floods, dark32, responding, y, breaks, slopes)
    return PiecewiseGain(
        breaks=breaks,
        slopes=slopes,
        knots=np.ascontiguousarray(y[:-1], dtype=np.float64),
        levels_ugy=levels,
    )

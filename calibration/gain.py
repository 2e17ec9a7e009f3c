"""Gain (flood) maps: single-point, and multi-point at the noise floor of all the floods.

Single-point (:func:`panelgate.calibration.maps.gain_map`): the standard flat-field
correction ``C = (R − D) · mean(F − D) / (F − D)`` with the gain map stored pre-divided.
It assumes every pixel responds linearly; "normalization will fail with pixels that are
responding to dose in a non-linear manner" (Varex 4343W manual §10.5.3).

Multi-point (:func:`multipoint_gain`): floods at K ≥ 2 dose levels (vendors use 3–4, e.g.
centre ≈ 1200, 2000, 4000, 8000 ADU) give each pixel K points ``(y_k, x_k)``: the panel-mean
signal ``y_k`` of level k and the pixel's own dark-subtracted mean flood signal ``x_k``
(mean of ``n_k`` frames). Each pixel's response is first fitted as one straight line
through the dark (the origin) and **all** K points, by weighted least squares::

    a   = Σ w_k y_k x_k / Σ w_k y_k²,        w_k = n_k / v_k

with ``v_k`` the temporal variance of one flood frame at level k (the panel's median; ``y_k``
when unknown: Poisson-limited floods, where the fit is the ratio of the summed signals,
``Σ n_k x_k / Σ n_k y_k``). The gain ``1 / a`` then carries the quantum noise of every flood
frame together, not of one level: relative variance ``1 / Q_total``, ``Q_total`` the quanta a
pixel collected in all flood frames, the floor issue 15 asks the correction to reach.

A straight line is kept only where the pixel is not measurably non-linear. Each pixel is
also fitted with a parabola through the origin, ``x = α y + β y²`` (the shape of a gently
saturating or supra-linear response), and the weighted residuals of both are compared with
the noise the floods' quanta explain: ``χ² = Σ w_k (x_k − x̂_k)² / r²`` with ``r = a /
median(a)`` (a brighter pixel's counts are noisier in proportion). The parabola is taken
where it explains the points better than noise would (``χ²_line − χ²_parabola`` above the
χ² quantile with one degree of freedom at :data:`BEND_P`); the pixel's measured points
where even the parabola does not fit (its χ² above the quantile with K − 2 degrees of
freedom at :data:`ROUGH_P`, Wilson–Hilferty) or does not increase. Whatever the model,
the pixel is stored as the piecewise-linear map through the origin and its K (fitted or
measured) points onto the panel-mean response, last segment extrapolated, which removes its
non-linearity in the sense of IEC 62220-1 §6.3.1 (linearisation): a line gives breaks
``a·y_k`` and every slope ``1 / a``. So the stored format and the correction kernel do not
change, and only the few bent pixels carry more than the floor's noise. With K = 1 it is
the single-point gain.

Measured (``tests/calibration/test_noise_floor.py``): the residual PRNU of corrected flats
at each of 4, 8 and 16 µGy is within 1–2 % of the floor; the earlier map, through each
pixel's measured points only, was 11–28 % above it.
"""

from __future__ import annotations

import itertools
import logging
import math
import statistics
from collections.abc import Sequence

import numba
import numpy as np
import numpy.typing as npt

from .calset import PiecewiseGain
from .errors import CalibrationError
from .maps import panel_median

__all__ = ["BEND_P", "MIN_SIGNAL_COUNTS", "ROUGH_P", "SATURATION_MARGIN", "multipoint_gain"]

_log = logging.getLogger(__name__)

MIN_SIGNAL_COUNTS = 50.0
"""Dark-subtracted flood signal below which a pixel is taken as not responding."""

SATURATION_MARGIN = 0.9
"""A flood level whose median raw value exceeds this fraction of full scale is refused."""

BEND_P = 1e-3
"""False-alarm probability of the test for a bent (parabolic) response: 0.1 % of linear
pixels take the parabola, whose gain is 1.3–2.4 × noisier; a real bend of 3.3 σ is taken."""

ROUGH_P = 1e-6
"""False-alarm probability of the test that even the parabola misses a pixel's points."""


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
def _fit(  # noqa: PLR0917  # pragma: no cover - compiled
    floods: npt.NDArray[np.float32],
    dark: npt.NDArray[np.float32],
    responding: npt.NDArray[np.bool_],
    knots: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    fits: npt.NDArray[np.float32],
) -> None:
    """Fit a line and a parabola through the origin and each pixel's K points.

    Weighted LS; ``fits`` = (a, χ² of the line, α, β, χ² of the parabola
    ``x = α y + β y²``), the χ² being weighted sums of squared residuals.
    """
    k, h, w = floods.shape
    s2 = s3 = s4 = 0.0
    for j in range(k):
        wy2 = weights[j] * knots[j] * knots[j]
        s2 += wy2
        s3 += wy2 * knots[j]
        s4 += wy2 * knots[j] * knots[j]
    det = s2 * s4 - s3 * s3
    for y in numba.prange(h):
        for x in range(w):
            if not responding[y, x]:
                for i in range(5):
                    fits[i, y, x] = 0.0
                continue
            t1 = 0.0
            t2 = 0.0
            for j in range(k):
                s = float(floods[j, y, x]) - float(dark[y, x])
                t1 += weights[j] * knots[j] * s
                t2 += weights[j] * knots[j] * knots[j] * s
            a = t1 / s2
            alpha = (t1 * s4 - t2 * s3) / det if det > 0 else a
            beta = (t2 * s2 - t1 * s3) / det if det > 0 else 0.0
            chi_line = 0.0
            chi_parabola = 0.0
            for j in range(k):
                s = float(floods[j, y, x]) - float(dark[y, x])
                r = s - a * knots[j]
                chi_line += weights[j] * r * r
                r = s - (alpha + beta * knots[j]) * knots[j]
                chi_parabola += weights[j] * r * r
            fits[0, y, x] = a
            fits[1, y, x] = chi_line
            fits[2, y, x] = alpha
            fits[3, y, x] = beta
            fits[4, y, x] = chi_parabola


@numba.njit(nogil=True, parallel=True, cache=True)
def _segments(  # noqa: PLR0917  # pragma: no cover - compiled
    floods: npt.NDArray[np.float32],
    dark: npt.NDArray[np.float32],
    model: npt.NDArray[np.uint8],
    fits: npt.NDArray[np.float32],
    knots: npt.NDArray[np.float64],
    breaks: npt.NDArray[np.float32],
    slopes: npt.NDArray[np.float32],
) -> None:
    """Write per-pixel breaks and segment slopes through the origin and K points.

    The points of the pixel's fitted line (model 1) or parabola (2), or its measured ones
    (3); model 0 (not responding): slope 0, no breaks.
    """
    k, h, w = floods.shape
    for y in numba.prange(h):
        for x in range(w):
            kind = model[y, x]
            x_prev = 0.0
            y_prev = 0.0
            for j in range(k):
                if kind == 1:
                    s = float(fits[0, y, x]) * knots[j]
                elif kind == 2:
                    s = (float(fits[2, y, x]) + float(fits[3, y, x]) * knots[j]) * knots[j]
                else:
                    s = float(floods[j, y, x]) - float(dark[y, x])
                if kind == 0:
                    slopes[j, y, x] = 0.0
                    if j < k - 1:
                        breaks[j, y, x] = np.inf
                else:
                    slopes[j, y, x] = (knots[j] - y_prev) / (s - x_prev)
                    if j < k - 1:
                        breaks[j, y, x] = s
                x_prev = s
                y_prev = knots[j]


def _chi2_threshold(dof: int, p: float) -> float:
    """Upper ``p`` quantile of χ² with ``dof`` degrees of freedom (Wilson–Hilferty)."""
    z = statistics.NormalDist().inv_cdf(1.0 - p)
    c = 2.0 / (9.0 * dof)
    return float(dof * (1.0 - c + z * math.sqrt(c)) ** 3)


def _choose_models(
    fits: npt.NDArray[np.float32],
    responding: npt.NDArray[np.bool_],
    knots: npt.NDArray[np.float64],
    scale_known: bool,
) -> npt.NDArray[np.uint8]:
    """Which response each pixel gets: 0 none, 1 line, 2 parabola, 3 its measured points.

    The χ² are divided by ``r²`` (``r = a / median(a)``: a brighter pixel's counts are
    noisier in proportion) and, when the frames' variance is not known, scaled so that the
    median pixel's line sits at the χ² median (Poisson weights known only up to the counts
    per quantum). A line unless the parabola explains the points better than noise would
    (Δχ² above the :data:`BEND_P` quantile with one degree of freedom); the parabola
    unless its own χ² is improbable, or its points do not increase; then the measured points.
    """
    k = knots.shape[0]
    model = np.where(responding, np.uint8(1), np.uint8(0))
    if k < 2:
        return model
    a = fits[0]
    r2 = np.maximum((a / np.float32(np.median(a[responding]))) ** 2, np.float32(1e-12))
    chi_line, chi_parabola = fits[1] / r2, fits[4] / r2
    if not scale_known:
        median = max(float(np.median(chi_line[responding])), 1e-30)
        factor = np.float32(_chi2_threshold(k - 1, 0.5) / median)
        chi_line, chi_parabola = chi_line * factor, chi_parabola * factor
    bends = responding & (chi_line - chi_parabola > _chi2_threshold(1, BEND_P))
    model[bends] = 2
    alpha, beta = fits[2], fits[3]
    points = [(alpha + beta * np.float32(y)) * np.float32(y) for y in knots]
    increasing = points[0] > 0
    for lower, upper in itertools.pairwise(points):
        increasing &= upper > lower
    rough = bends & ~increasing
    if k > 2:
        rough |= bends & (chi_parabola > _chi2_threshold(k - 2, ROUGH_P))
    model[rough] = 3
    return model


def multipoint_gain(
    flood_means: Sequence[npt.NDArray[np.float32]],
    dark: npt.NDArray[np.float32],
    levels_ugy: Sequence[float] = (),
    full_scale: int = 65535,
    *,
    n_frames: Sequence[int] = (),
    frame_variances: Sequence[float] = (),
) -> PiecewiseGain:
    """Per-pixel gain from mean floods at K dose levels, at the noise floor of all of them.

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
    n_frames : sequence of int, optional
        Frames averaged into each mean (the fit's weights); equal when not given.
    frame_variances : sequence of float, optional
        Temporal variance of one frame at each level, in counts² (the panel's median,
        e.g. of :meth:`FrameAverager.std` squared); the linearity test takes the noise
        scale from the pixels themselves when not given.

    Returns
    -------
    PiecewiseGain
        Levels sorted by panel-mean signal: the fitted line for pixels that respond
        linearly within their noise, the piecewise map through their K points for the
        others (see the module docstring). Pixels whose points do not increase (dead,
        saturated) get slope 0 on every segment: the defect map must flag them.

    Raises
    ------
    CalibrationError
        No floods, a flood without usable signal, a saturated level, or two levels too
        close together to define a segment (< 5 % apart).
    """
    if not flood_means:
        raise CalibrationError("multi-point gain needs at least one flood level")
    for name, given in (("levels", levels_ugy), ("frame counts", n_frames)):
        if given and len(given) != len(flood_means):
            raise CalibrationError(f"{len(given)} {name} given for {len(flood_means)} flood means")
    if frame_variances and len(frame_variances) != len(flood_means):
        raise CalibrationError(
            f"{len(frame_variances)} variances given for {len(flood_means)} flood means"
        )
    if any(n < 1 for n in n_frames) or any(not v > 0 for v in frame_variances):
        raise CalibrationError("frame counts and frame variances must be positive")
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
    counts = np.array([n_frames[i] if n_frames else 1 for i in order], dtype=np.float64)
    scale_known = bool(frame_variances)
    variances = np.array([frame_variances[i] for i in order]) if scale_known else y
    weights = counts / variances
    fits = np.empty((5, h, w), dtype=np.float32)
    _fit(floods, dark32, responding, y, weights, fits)
    model = _choose_models(fits, responding, y, scale_known)
    _log.debug(
        "multi-point gain, pixels per response model (none, line, parabola, points): %s",
        np.bincount(model.ravel(), minlength=4).tolist(),
    )
    # Segment k runs from point k (the origin for k = 0) to point k + 1; the last one is
    # extrapolated beyond the highest level. Non-responding pixels: slope 0, no breaks.
    breaks = np.empty((k - 1, h, w), dtype=np.float32)
    slopes = np.empty((k, h, w), dtype=np.float32)
    _segments(floods, dark32, model, fits, y, breaks, slopes)
    return PiecewiseGain(
        breaks=breaks,
        slopes=slopes,
        knots=np.ascontiguousarray(y[:-1], dtype=np.float64),
        levels_ugy=levels,
    )

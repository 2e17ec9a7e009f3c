"""Defect maps classified by cause, after ASTM E2597 (thresholds: shared calibration.md §4).

Every test compares a pixel with a reference built from its good neighbours (a masked
local mean, so that a defect does not pull its neighbours' reference), or with a
panel-wide robust statistic:

=============  ===========================================================================
Flag           Criterion
=============  ===========================================================================
HOT            dark > panel median + 20 robust σ; or at ≥ 98 % of full scale in a flood
NOISY          temporal σ of the darks > 6 × the panel's median σ
DEAD (under)   dark-subtracted mid flood < 0.6 × its 21 × 21 local mean (or NaN)
OVER           > 1.3 × that local mean
NONUNIFORM     ratio of another flood level to the mid level deviates from its 9 × 9
               local mean by more than max(1 %, 5 robust σ of that deviation over the
               panel): the flat-ratio method (IRAF ``ccdmask``), which cancels the gain
               and isolates non-linear response; the σ floor keeps quantum noise of
               the floods from being flagged
LAG            first dark after the last flood, minus the dark map, > 2 × its 9 × 9 local
               mean and more than 6 σ of dark noise above it (persistence)
LINE           run of ≥ ``line_min_px`` flagged pixels along a row or a column
CLUSTER        8-connected group of ≥ 3 flagged pixels that are not LINE pixels
=============  ===========================================================================

Which defects are correctable: :meth:`CalibrationSet.uncorrectable` reports flagged pixels
with fewer than 5 good neighbours of 8 (ASTM E2698 "relevant cluster"). Maps are kept in
sensor space; :func:`defects_for_mode` transforms them for a ROI and binning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from .calset import DefectFlag
from .errors import CalibrationError
from .maps import LOCAL_WINDOW_PX, masked_local_mean, panel_median

__all__ = ["DefectThresholds", "classify_defects", "defects_for_mode", "label_clusters"]

_U8 = npt.NDArray[np.uint8]
_F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class DefectThresholds:
    """Thresholds of the defect tests (defaults: ASTM E2597 as in calibration.md §4)."""

    over_response: float = 1.3
    under_response: float = 0.6
    noisy_sigma_factor: float = 6.0
    hot_robust_sigmas: float = 20.0
    saturated_fraction: float = 0.98
    nonuniform_fraction: float = 0.01
    nonuniform_robust_sigmas: float = 5.0
    lag_factor: float = 2.0
    lag_noise_sigmas: float = 6.0
    local_window_px: int = LOCAL_WINDOW_PX
    neighbour_window_px: int = 9
    line_min_px: int = 16
    cluster_min_px: int = 3


def _robust_sigma(values: npt.NDArray[np.floating]) -> float:
    median = panel_median(values)
    return panel_median(np.abs(values - median)) * 1.4826


def classify_defects(
    dark_mean: _F32,
    dark_std: _F32,
    flood_means: Sequence[_F32],
    full_scale: int,
    *,
    lag_dark: _F32 | None = None,
    thresholds: DefectThresholds | None = None,
) -> _U8:
    """Classify every pixel; see the module docstring for the criteria.

    Parameters
    ----------
    dark_mean, dark_std : numpy.ndarray
        Robust mean and temporal σ of the darks.
    flood_means : sequence of numpy.ndarray
        Mean flood frame per dose level, sorted by dose; the middle one is the reference
        level for the response tests.
    full_scale : int
        Largest raw value.
    lag_dark : numpy.ndarray, optional
        The first dark frame read right after the last (highest) flood; enables LAG.
    thresholds : DefectThresholds, optional
        Overrides of the defaults.

    Returns
    -------
    numpy.ndarray
        uint8 :class:`DefectFlag` bits, 0 for a good pixel.
    """
    th = thresholds or DefectThresholds()
    if not flood_means:
        raise CalibrationError("defect classification needs at least one flood level")
    shape = dark_mean.shape
    named = [("dark_std", dark_std), *((f"flood {i + 1}", f) for i, f in enumerate(flood_means))]
    if lag_dark is not None:
        named.append(("lag dark", lag_dark))
    for name, arr in named:
        if arr.shape != shape:
            raise CalibrationError(f"{name} has shape {arr.shape}, the dark map {shape}")
    dark = dark_mean.astype(np.float64)
    flags = _dark_tests(dark, dark_std, flood_means, full_scale, th)
    mid_index = len(flood_means) // 2
    mid = flood_means[mid_index].astype(np.float64) - dark
    good = _response_tests(mid, flags, th)
    for i, flood in enumerate(flood_means):
        if i != mid_index:
            _nonuniform_test(flood.astype(np.float64) - dark, mid, good, flags, th)
    if lag_dark is not None:
        noise_median = max(panel_median(dark_std), 0.5)
        lag = lag_dark.astype(np.float64) - dark
        reference = masked_local_mean(lag, flags == 0, th.neighbour_window_px)
        noise = th.lag_noise_sigmas * np.maximum(dark_std, noise_median)
        lagging = (lag > th.lag_factor * np.maximum(reference, 0.0)) & (lag - reference > noise)
        flags[lagging] |= DefectFlag.LAG
    _structure_tests(flags, th)
    return flags


def _dark_tests(
    dark: npt.NDArray[np.float64],
    dark_std: _F32,
    flood_means: Sequence[_F32],
    full_scale: int,
    th: DefectThresholds,
) -> _U8:
    """HOT (dark level or saturation) and NOISY (temporal σ)."""
    flags = np.zeros(dark.shape, dtype=np.uint8)
    hot_limit = panel_median(dark) + th.hot_robust_sigmas * max(_robust_sigma(dark), 1.0)
    flags[dark > hot_limit] |= DefectFlag.HOT
    for flood in flood_means:
        flags[flood >= th.saturated_fraction * full_scale] |= DefectFlag.HOT
    noise_median = max(panel_median(dark_std), 0.5)
    flags[dark_std > th.noisy_sigma_factor * noise_median] |= DefectFlag.NOISY
    return flags


def _response_tests(
    mid: npt.NDArray[np.float64], flags: _U8, th: DefectThresholds
) -> npt.NDArray[np.bool_]:
    """DEAD (under) and OVER against the masked local mean; returns the good pixels."""
    good: npt.NDArray[np.bool_] = flags == 0
    under = over = np.zeros(mid.shape, dtype=bool)
    for _ in range(2):  # the second pass excludes the first pass's defects from the reference
        local = masked_local_mean(np.maximum(mid, 0.0), good, th.local_window_px)
        with np.errstate(invalid="ignore", divide="ignore"):
            response = mid / local
        under = ~(response >= th.under_response)  # also NaN
        over = response > th.over_response
        good = np.asarray((flags == 0) & ~under & ~over, dtype=bool)
    flags[under] |= DefectFlag.DEAD
    flags[over] |= DefectFlag.OVER
    return good


def _nonuniform_test(
    signal: npt.NDArray[np.float64],
    mid: npt.NDArray[np.float64],
    good: npt.NDArray[np.bool_],
    flags: _U8,
    th: DefectThresholds,
) -> None:
    """NONUNIFORM: the flat-ratio of one level to the mid level against its neighbours."""
    responding = mid > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(responding, signal / np.where(responding, mid, 1.0), np.nan)
    reference = masked_local_mean(np.nan_to_num(ratio), good & responding, th.neighbour_window_px)
    with np.errstate(invalid="ignore", divide="ignore"):
        deviation = ratio / reference - 1.0
    usable = good & np.isfinite(deviation)
    if not usable.any():
        return
    limit = max(
        th.nonuniform_fraction, th.nonuniform_robust_sigmas * _robust_sigma(deviation[usable])
    )
    flags[np.abs(np.nan_to_num(deviation)) > limit] |= DefectFlag.NONUNIFORM


def _structure_tests(flags: _U8, th: DefectThresholds) -> None:
    """LINE (runs along rows or columns) and CLUSTER (8-connected groups, not lines)."""
    bad = flags != 0
    line = _runs(bad, th.line_min_px, axis=0) | _runs(bad, th.line_min_px, axis=1)
    flags[line] |= DefectFlag.LINE
    labels, sizes = label_clusters(bad & ~line)
    big = np.flatnonzero(sizes >= th.cluster_min_px) + 1
    if big.size:
        flags[np.isin(labels, big)] |= DefectFlag.CLUSTER


def _runs(bad: npt.NDArray[np.bool_], min_run: int, axis: int) -> npt.NDArray[np.bool_]:
    """Pixels belonging to a run of at least ``min_run`` True values along ``axis``."""
    view = bad if axis == 1 else bad.T
    out: npt.NDArray[np.bool_] = np.zeros_like(view)
    _mark_runs(np.ascontiguousarray(view), min_run, out)
    return out if axis == 1 else out.T


@numba.njit(nogil=True, cache=True)
def _mark_runs(  # pragma: no cover - compiled
    bad: npt.NDArray[np.bool_], min_run: int, out: npt.NDArray[np.bool_]
) -> None:
    h, w = bad.shape
    for y in range(h):
        start = -1
        for x in range(w + 1):
            on = x < w and bad[y, x]
            if on and start < 0:
                start = x
            elif not on and start >= 0:
                if x - start >= min_run:
                    out[y, start:x] = True
                start = -1


def label_clusters(
    mask: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Label 8-connected groups of True pixels.

    Returns
    -------
    labels : numpy.ndarray
        int32 map, 0 outside the mask, 1..n for the groups in raster order of first pixel.
    sizes : numpy.ndarray
        Pixel count of each group (``sizes[i]`` for label ``i + 1``).
    """
    labels = np.zeros(mask.shape, dtype=np.int32)
    sizes = np.zeros(int(np.count_nonzero(mask)) + 1, dtype=np.int64)
    n = _label(np.ascontiguousarray(mask), labels, sizes)
    return labels, sizes[:n]


@numba.njit(nogil=True, cache=True)
def _label(  # pragma: no cover - compiled
    mask: npt.NDArray[np.bool_], labels: npt.NDArray[np.int32], sizes: npt.NDArray[np.int64]
) -> int:
    h, w = mask.shape
    stack = np.empty(sizes.shape[0] * 2 + 2, dtype=np.int64)
    n = 0
    for y0 in range(h):
        for x0 in range(w):
            if not mask[y0, x0] or labels[y0, x0] != 0:
                continue
            n += 1
            labels[y0, x0] = n
            top = 0
            stack[top] = y0 * w + x0
            top = 1
            count = 0
            while top > 0:
                top -= 1
                p = stack[top]
                y = p // w
                x = p % w
                count += 1
                for dy in range(-1, 2):
                    for dx in range(-1, 2):
                        yy = y + dy
                        xx = x + dx
                        if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and labels[yy, xx] == 0:
                            labels[yy, xx] = n
                            stack[top] = yy * w + xx
                            top += 1
            sizes[n - 1] = count
    return n


def defects_for_mode(
    defects: _U8,
    *,
    roi: tuple[int, int, int, int] | None = None,
    binning: int = 1,
) -> _U8:
    """Transform a sensor-space defect map to a readout mode's image space.

    Parameters
    ----------
    defects : numpy.ndarray
        uint8 flags in unbinned sensor coordinates.
    roi : tuple of int, optional
        ``(y0, x0, height, width)`` of the region read, in unbinned sensor pixels.
    binning : int
        Square binning factor; a binned pixel carries the union (OR) of its sensor
        pixels' flags, so one defective sensor pixel spoils the binned pixel.

    Raises
    ------
    CalibrationError
        The ROI is outside the map, or not a whole number of bins.
    """
    h, w = defects.shape
    y0, x0, rh, rw = roi if roi is not None else (0, 0, h, w)
    if binning < 1 or not (0 <= y0 and 0 <= x0 and rh > 0 and rw > 0):
        raise CalibrationError(f"invalid ROI {roi} or binning {binning}")
    if y0 + rh > h or x0 + rw > w:
        raise CalibrationError(f"ROI {roi} (y0, x0, height, width) exceeds the {h}x{w} map")
    if rh % binning or rw % binning:
        raise CalibrationError(f"ROI {rh}x{rw} is not a multiple of binning {binning}")
    region = defects[y0 : y0 + rh, x0 : x0 + rw]
    if binning == 1:
        return np.ascontiguousarray(region)
    blocks = region.reshape(rh // binning, binning, rw // binning, binning)
    return np.ascontiguousarray(np.bitwise_or.reduce(np.bitwise_or.reduce(blocks, axis=3), axis=1))

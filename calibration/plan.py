"""Defect replacement plans: which good neighbours replace each defective pixel.

Which neighbours may replace a defect depends only on the defect map and the rule, not on
the frame, so it is worked out once per calibration set instead of once per frame. The
kernel then reads only the corrected output at the listed positions: no defect-map
lookups in the per-frame loop, where they would be cache misses.

For each defect, in raster order, the plan lists flat indices (``y * width + x``):

* **pairs** (directional rule): the pairs of opposite good neighbours at the first
  distance (1, then 2) that has any, in the rule's tie-breaking order (horizontal,
  vertical, the two diagonals); the kernel takes the pair with the least difference;
* otherwise a **mean list**: the good neighbours in the 3 × 3 window, or, when none is
  good, in the 5 × 5 window;
* otherwise nothing: the pixel keeps its own corrected value (reported as
  uncorrectable by the defect statistics, never invented).

The rules themselves are stated in :mod:`panelgate.calibration.reference`, whose oracle
decides every replacement from the defect map directly and so also checks the plan.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = ["DefectPlan", "plan_defects"]

# Neighbour pairs (dy, dx) of the directional rule, in the order that breaks ties.
_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


class DefectPlan(NamedTuple):
    """A defect map, its replacement rule and the neighbours each defect is replaced from.

    Attributes
    ----------
    defects : numpy.ndarray
        uint8 defect flags, 0 = good (the map the plan was made from).
    directional : bool
        True for the directional rule, False for the mean rule.
    rows, cols : numpy.ndarray
        intp position of every defective pixel, in raster order.
    start : numpy.ndarray
        intp, ``len(rows) + 1``: defect ``i`` uses ``neighbours[start[i]:start[i + 1]]``.
    pairs : numpy.ndarray
        uint8 per defect: 1 when its entries are pairs of opposite neighbours, 0 when they
        are a mean list.
    neighbours : numpy.ndarray
        intp flat indices (``y * width + x``) of the neighbours.
    """

    defects: npt.NDArray[np.uint8]
    directional: bool
    rows: npt.NDArray[np.intp]
    cols: npt.NDArray[np.intp]
    start: npt.NDArray[np.intp]
    pairs: npt.NDArray[np.uint8]
    neighbours: npt.NDArray[np.intp]


def _gather(
    defects: npt.NDArray[np.uint8],
    rows: npt.NDArray[np.intp],
    cols: npt.NDArray[np.intp],
    offsets: npt.NDArray[np.intp],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Flat indices of ``(row + dy, col + dx)`` for each offset, and whether each is good."""
    h, w = defects.shape
    y = rows[:, None] + offsets[None, :, 0]
    x = cols[:, None] + offsets[None, :, 1]
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    flat = np.where(inside, y * w + x, 0)
    good = inside & (defects.reshape(-1)[flat] == 0)
    return flat, good


def _pair_offsets(dist: int) -> npt.NDArray[np.intp]:
    """(dy, dx) of each pair's two pixels, pair after pair in the rule's order."""
    return np.array([(sign * dy * dist, sign * dx * dist)
                     for dy, dx in _DIRECTIONS for sign in (-1, 1)], dtype=np.intp)  # fmt: skip


def _window_offsets(radius: int) -> npt.NDArray[np.intp]:
    """(dy, dx) of a (2r + 1)² window in raster order."""
    span = range(-radius, radius + 1)
    return np.array([(dy, dx) for dy in span for dx in span], dtype=np.intp)


def _plan(
    defects: npt.NDArray[np.uint8],
    rows: npt.NDArray[np.intp],
    cols: npt.NDArray[np.intp],
    directional: bool,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint8], npt.NDArray[np.intp]]:
    n = rows.shape[0]
    # Candidates, in order of preference; each defect takes the first that has any.
    candidates = []
    if directional:
        for dist in (1, 2):
            flat, good = _gather(defects, rows, cols, _pair_offsets(dist))
            both = good.reshape(n, len(_DIRECTIONS), 2).all(axis=2)  # both good: a pair
            candidates.append((flat, np.repeat(both, 2, axis=1), True))
    for radius in (1, 2):
        flat, good = _gather(defects, rows, cols, _window_offsets(radius))
        candidates.append((flat, good, False))
    width = max(flat.shape[1] for flat, _, _ in candidates)
    chosen_flat = np.zeros((n, width), dtype=np.intp)
    chosen = np.zeros((n, width), dtype=bool)
    pairs = np.zeros(n, dtype=np.uint8)
    open_ = np.ones(n, dtype=bool)  # no candidate taken yet
    for flat, good, is_pairs in candidates:
        take = open_ & good.any(axis=1)
        k = flat.shape[1]
        chosen_flat[take, :k] = flat[take]
        chosen[take, :k] = good[take]
        pairs[take] = 1 if is_pairs else 0
        open_ &= ~take
    counts = chosen.sum(axis=1)
    start = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(counts, out=start[1:])
    return start, pairs, np.ascontiguousarray(chosen_flat[chosen])  # row-major: defect order


def plan_defects(defects: npt.NDArray[np.uint8], directional: bool) -> DefectPlan:
    """Work out the replacement neighbours of every defect in ``defects``.

    Parameters
    ----------
    defects : numpy.ndarray
        2-D uint8 defect flags, 0 = good.
    directional : bool
        The directional rule (True) or the mean rule (False).

    Returns
    -------
    DefectPlan
        C-contiguous arrays, the defects in raster order.
    """
    if defects.ndim != 2 or defects.dtype != np.uint8:
        raise ValueError(f"defects must be a 2-D uint8 map, got {defects.dtype} {defects.shape}")
    defects = np.ascontiguousarray(defects)
    rows, cols = (np.ascontiguousarray(a, dtype=np.intp) for a in np.nonzero(defects))
    start, pairs, index = _plan(defects, rows, cols, bool(directional))
    return DefectPlan(defects, bool(directional), rows, cols, start, pairs, index)

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

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["DefectPlan", "plan_defects"]

# Neighbour pairs (dy, dx) of the directional rule, in the order that breaks ties.
_DIRECTIONS = np.array([[0, 1], [1, 0], [1, 1], [1, -1]], dtype=np.intp)


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


@numba.njit(nogil=True, cache=True)
def _pairs(  # pragma: no cover - compiled
    defects: npt.NDArray[np.uint8],
    y: int,
    x: int,
    index: npt.NDArray[np.intp],
    k: int,
    fill: bool,
) -> int:
    """Append the good opposite pairs at the first distance that has any; return the end."""
    h, w = defects.shape
    for dist in range(1, 3):
        k0 = k
        for d in range(_DIRECTIONS.shape[0]):
            dy = _DIRECTIONS[d, 0] * dist
            dx = _DIRECTIONS[d, 1] * dist
            y1, x1, y2, x2 = y - dy, x - dx, y + dy, x + dx
            inside = min(y1, y2, x1, x2) >= 0 and max(y1, y2) < h and max(x1, x2) < w
            if inside and defects[y1, x1] == 0 and defects[y2, x2] == 0:
                if fill:
                    index[k] = y1 * w + x1
                    index[k + 1] = y2 * w + x2
                k += 2
        if k > k0:
            break
    return k


@numba.njit(nogil=True, cache=True)
def _window(  # pragma: no cover - compiled
    defects: npt.NDArray[np.uint8],
    y: int,
    x: int,
    index: npt.NDArray[np.intp],
    k: int,
    fill: bool,
) -> int:
    """Append the good pixels of the first window (3 x 3, 5 x 5) that has any; return the end."""
    h, w = defects.shape
    for radius in range(1, 3):
        k0 = k
        for yy in range(max(0, y - radius), min(h, y + radius + 1)):
            for xx in range(max(0, x - radius), min(w, x + radius + 1)):
                if defects[yy, xx] == 0:
                    if fill:
                        index[k] = yy * w + xx
                    k += 1
        if k > k0:
            break
    return k


@numba.njit(nogil=True, cache=True)
def _neighbours(  # pragma: no cover - compiled
    defects: npt.NDArray[np.uint8],
    y: int,
    x: int,
    directional: bool,
    index: npt.NDArray[np.intp],
    k: int,
    fill: bool,
) -> tuple[int, bool]:
    """Append defect (y, x)'s neighbours at ``index[k:]``; return the end, and if pairs."""
    if directional:
        end = _pairs(defects, y, x, index, k, fill)
        if end > k:
            return end, True
    return _window(defects, y, x, index, k, fill), False


@numba.njit(nogil=True, cache=True)
def _plan(  # pragma: no cover - compiled
    defects: npt.NDArray[np.uint8],
    rows: npt.NDArray[np.intp],
    cols: npt.NDArray[np.intp],
    directional: bool,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint8], npt.NDArray[np.intp]]:
    n = rows.shape[0]
    start = np.zeros(n + 1, dtype=np.intp)
    pairs = np.zeros(n, dtype=np.uint8)
    none = np.empty(0, dtype=np.intp)
    for i in range(n):  # count first: the index holds at most 24 entries per defect
        start[i + 1], _ = _neighbours(defects, rows[i], cols[i], directional, none, start[i], False)
    index = np.empty(start[n], dtype=np.intp)
    for i in range(n):
        _, is_pairs = _neighbours(defects, rows[i], cols[i], directional, index, start[i], True)
        pairs[i] = 1 if is_pairs else 0
    return start, pairs, index


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

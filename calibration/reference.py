"""Plain-numpy references of the correction kernels: the test oracles for :mod:`.kernel`.

Single-point gain (:func:`correct_reference`), per pixel, in float64::

    v   = (raw − dark) · gain + pedestal
    out = clip(floor(v + 0.5), 0, full_scale)            (round half up)

Piecewise-linear (multi-point) gain (:func:`correct_pwl_reference`): with ``s = raw − dark``,
per-pixel breakpoints ``b_1 < … < b_{K−1}`` (the pixel's dark-subtracted flood signal at
the flood levels), per-pixel segment slopes ``m_0 … m_{K−1}`` and the panel-mean flood
signals ``y_1 … y_{K−1}`` at those levels (the knots), the segment is
``k = max{j : s ≥ b_j}`` (0 below every break; with increasing breaks, the count of breaks
at or below s) and::

    v   = (s − b_k) · m_k + y_k + pedestal                  (b_0 = y_0 = 0)
    out = clip(floor(v + 0.5), 0, full_scale)

so every pixel's response is mapped onto the panel-mean response, piece by piece
(linearisation in the sense of IEC 62220-1 §6.3.1). One segment is the single-point case.

Defects, **mean rule**: every defective pixel is replaced by the rounded integer mean of
the corrected values of its good neighbours in the 3 × 3 window, or, when none is good, in
the 5 × 5 window; a pixel with no good neighbour in 5 × 5 keeps its own corrected value (it
is reported by the defect statistics as uncorrectable, never silently invented).

Defects, **directional rule** (DALSA's directional 5 × 5 replacement): of the four pairs of
opposite neighbours at distance 1 (horizontal, vertical, the two diagonals, in that order
for ties) whose both pixels are good and inside the frame, take the pair with the least
absolute difference and use ``(a + b + 1) // 2``; when no pair qualifies, the same at
distance 2; when none either, the mean rule. Neighbours are read only from good pixels, so
the result does not depend on the order the defects are visited.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .plan import DefectPlan

__all__ = ["correct_pwl_reference", "correct_reference"]

_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _mean_value(
    out: npt.NDArray[np.uint16], defects: npt.NDArray[np.uint8], y: int, x: int
) -> int | None:
    h, w = out.shape
    for radius in (1, 2):
        y0, y1 = max(0, y - radius), min(h, y + radius + 1)
        x0, x1 = max(0, x - radius), min(w, x + radius + 1)
        good = defects[y0:y1, x0:x1] == 0
        n = int(np.count_nonzero(good))
        if n:
            total = int(out[y0:y1, x0:x1][good].astype(np.int64).sum())
            return (total + n // 2) // n
    return None


def _directional_value(
    out: npt.NDArray[np.uint16], defects: npt.NDArray[np.uint8], y: int, x: int
) -> int | None:
    h, w = out.shape
    for dist in (1, 2):
        best: tuple[int, int] | None = None
        for dy, dx in _DIRECTIONS:
            y1, x1, y2, x2 = y - dy * dist, x - dx * dist, y + dy * dist, x + dx * dist
            if not (0 <= y1 < h and 0 <= y2 < h and 0 <= x1 < w and 0 <= x2 < w):
                continue
            if defects[y1, x1] or defects[y2, x2]:
                continue
            a, b = int(out[y1, x1]), int(out[y2, x2])
            if best is None or abs(a - b) < best[0]:
                best = (abs(a - b), a + b)
        if best is not None:
            return (best[1] + 1) // 2
    return _mean_value(out, defects, y, x)


def _replace_defects(out: npt.NDArray[np.uint16], plan: DefectPlan) -> None:
    # Decides every replacement from the defect map itself: the plan's neighbour lists
    # are what the kernel uses, so agreement also checks the plan.
    rule = _directional_value if plan.directional else _mean_value
    replaced = out.copy()
    for y, x in zip(plan.rows.tolist(), plan.cols.tolist(), strict=True):
        value = rule(out, plan.defects, y, x)
        if value is not None:
            replaced[y, x] = value
    out[...] = replaced


def correct_reference(
    raw: npt.NDArray[np.uint16],
    dark: npt.NDArray[np.float32],
    gain: npt.NDArray[np.float32],
    plan: DefectPlan,
    pedestal: float,
    full_scale: int,
    out: npt.NDArray[np.uint16],
) -> None:
    """Correct ``raw`` into ``out``; same signature and result as ``kernel.correct_kernel``."""
    v = (raw.astype(np.float64) - dark.astype(np.float64)) * gain.astype(np.float64) + pedestal
    v = np.floor(v + 0.5)
    np.clip(v, 0, full_scale, out=v)
    out[...] = v.astype(np.uint16)
    _replace_defects(out, plan)


def correct_pwl_reference(
    raw: npt.NDArray[np.uint16],
    dark: npt.NDArray[np.float32],
    breaks: npt.NDArray[np.float32],
    slopes: npt.NDArray[np.float32],
    knots: npt.NDArray[np.float64],
    plan: DefectPlan,
    pedestal: float,
    full_scale: int,
    out: npt.NDArray[np.uint16],
) -> None:
    """Correct ``raw`` into ``out``; same signature and result as ``correct_pwl_kernel``."""
    s = raw.astype(np.float64) - dark.astype(np.float64)
    b = breaks.astype(np.float64)
    index = np.arange(1, b.shape[0] + 1).reshape(-1, 1, 1)
    k = np.max(np.where(s[np.newaxis] >= b, index, 0), axis=0, initial=0)
    base_x = np.zeros_like(s)
    base_y = np.zeros_like(s)
    inner = k > 0
    if inner.any():
        km1 = k[inner] - 1
        base_x[inner] = b[km1, *np.nonzero(inner)]
        base_y[inner] = knots.astype(np.float64)[km1]
    slope = np.take_along_axis(slopes.astype(np.float64), k[np.newaxis], axis=0)[0]
    v = (s - base_x) * slope + base_y + pedestal
    v = np.floor(v + 0.5)
    np.clip(v, 0, full_scale, out=v)
    out[...] = v.astype(np.uint16)
    _replace_defects(out, plan)

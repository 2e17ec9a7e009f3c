"""The fused numba correction kernels (offset, gain or piecewise gain, defect replacement).

Same formulas and results as :mod:`panelgate.calibration.reference`, which documents them
and is the test oracle. The kernels write into a caller-provided buffer, allocate no
frame-sized memory (the multi-point path keeps four rows of scratch per image row so that
its segment choice vectorises), release the GIL so correction overlaps I/O in other
threads, run their rows in parallel, and are compiled and cached on disk on first use;
call :func:`warm_up` at start-up so that no patient exposure waits for the compiler.

* :func:`correct_kernel`: single-point gain, defects replaced by the mean of their good
  neighbours (the original kernel; its signature is stable).
* :func:`correct_pwl_kernel`: per-pixel piecewise-linear (multi-point) gain, of which the
  single-point gain is the one-segment case, and a choice of defect replacement: the mean
  rule or the directional rule (DALSA-style: interpolate along the direction of least
  change among good neighbours, which preserves edges).
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["correct_kernel", "correct_pwl_kernel", "warm_up"]

# Neighbour pairs (dy, dx) of the directional rule, in the order that breaks ties.
_DIRECTIONS = np.array([[0, 1], [1, 0], [1, 1], [1, -1]], dtype=np.intp)


@numba.njit(nogil=True, cache=True)
def _replace_mean(  # pragma: no cover - compiled
    out: npt.NDArray[np.uint16],
    defects: npt.NDArray[np.uint8],
    y: int,
    x: int,
) -> None:
    h, w = out.shape
    for radius in range(1, 3):
        total = 0
        n = 0
        for yy in range(max(0, y - radius), min(h, y + radius + 1)):
            for xx in range(max(0, x - radius), min(w, x + radius + 1)):
                if defects[yy, xx] == 0:
                    total += int(out[yy, xx])
                    n += 1
        if n > 0:
            out[y, x] = np.uint16((total + n // 2) // n)
            return


@numba.njit(nogil=True, cache=True)
def _replace_directional(  # pragma: no cover - compiled
    out: npt.NDArray[np.uint16],
    defects: npt.NDArray[np.uint8],
    y: int,
    x: int,
    directions: npt.NDArray[np.intp],
) -> None:
    h, w = out.shape
    for dist in range(1, 3):
        best = np.int64(-1)
        best_total = np.int64(0)
        for d in range(directions.shape[0]):
            dy = directions[d, 0] * dist
            dx = directions[d, 1] * dist
            y1, x1, y2, x2 = y - dy, x - dx, y + dy, x + dx
            if y1 < 0 or y2 < 0 or y1 >= h or y2 >= h or x1 < 0 or x2 < 0 or x1 >= w or x2 >= w:
                continue
            if defects[y1, x1] != 0 or defects[y2, x2] != 0:
                continue
            a = np.int64(out[y1, x1])
            b = np.int64(out[y2, x2])
            change = abs(a - b)
            if best < 0 or change < best:
                best = change
                best_total = a + b
        if best >= 0:
            out[y, x] = np.uint16((best_total + 1) // 2)
            return
    _replace_mean(out, defects, y, x)


@numba.njit(nogil=True, parallel=True, cache=True)
def correct_kernel(  # pragma: no cover - compiled; covered under NUMBA_DISABLE_JIT=1
    raw: npt.NDArray[np.uint16],
    dark: npt.NDArray[np.float32],
    gain: npt.NDArray[np.float32],
    defects: npt.NDArray[np.uint8],
    defect_rows: npt.NDArray[np.intp],
    defect_cols: npt.NDArray[np.intp],
    pedestal: float,
    full_scale: int,
    out: npt.NDArray[np.uint16],
) -> None:
    """Correct ``raw`` into ``out`` (see ``reference.correct_reference``)."""
    h, w = raw.shape
    for y in numba.prange(h):
        for x in range(w):
            v = (float(raw[y, x]) - float(dark[y, x])) * float(gain[y, x]) + pedestal
            out[y, x] = np.uint16(min(max(np.floor(v + 0.5), 0.0), full_scale))
    # Pass 2 writes only defective pixels and reads only good ones: no race, no order.
    for i in numba.prange(defect_rows.shape[0]):
        _replace_mean(out, defects, defect_rows[i], defect_cols[i])


@numba.njit(nogil=True, parallel=True, cache=True)
def correct_pwl_kernel(  # pragma: no cover - compiled; covered under NUMBA_DISABLE_JIT=1
    raw: npt.NDArray[np.uint16],
    dark: npt.NDArray[np.float32],
    breaks: npt.NDArray[np.float32],
    slopes: npt.NDArray[np.float32],
    knots: npt.NDArray[np.float64],
    defects: npt.NDArray[np.uint8],
    defect_rows: npt.NDArray[np.intp],
    defect_cols: npt.NDArray[np.intp],
    pedestal: float,
    full_scale: int,
    directional: bool,
    out: npt.NDArray[np.uint16],
) -> None:
    """Correct ``raw`` into ``out`` (see ``reference.correct_pwl_reference``)."""
    h, w = raw.shape
    n_breaks = breaks.shape[0]
    if n_breaks == 0:  # single-point gain: the one-segment case, no selects
        for y in numba.prange(h):
            for x in range(w):
                s = float(raw[y, x]) - float(dark[y, x])
                v = (s - 0.0) * float(slopes[0, y, x]) + 0.0 + pedestal
                out[y, x] = np.uint16(min(max(np.floor(v + 0.5), 0.0), full_scale))
    else:
        for y in numba.prange(h):
            # Row scratch (4 rows of w floats): the segment choice vectorises along x.
            row_s = np.empty(w, dtype=np.float64)
            row_bx = np.zeros(w, dtype=np.float64)
            row_by = np.zeros(w, dtype=np.float64)
            row_m = np.empty(w, dtype=np.float64)
            for x in range(w):
                row_s[x] = float(raw[y, x]) - float(dark[y, x])
                row_m[x] = float(slopes[0, y, x])
            for j in range(n_breaks):
                knot = knots[j]
                for x in range(w):
                    b = float(breaks[j, y, x])
                    take = row_s[x] >= b
                    row_bx[x] = b if take else row_bx[x]
                    row_by[x] = knot if take else row_by[x]
                    row_m[x] = float(slopes[j + 1, y, x]) if take else row_m[x]
            for x in range(w):
                v = (row_s[x] - row_bx[x]) * row_m[x] + row_by[x] + pedestal
                out[y, x] = np.uint16(min(max(np.floor(v + 0.5), 0.0), full_scale))
    directions = _DIRECTIONS
    for i in numba.prange(defect_rows.shape[0]):
        if directional:
            _replace_directional(out, defects, defect_rows[i], defect_cols[i], directions)
        else:
            _replace_mean(out, defects, defect_rows[i], defect_cols[i])


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel signature panelgate uses.

    The arrays have the types and layouts :func:`panelgate.calibration.correct` passes:
    C-contiguous maps, contiguous defect indices, float64 knots.
    """
    shape = (8, 8)
    defects = np.zeros(shape, dtype=np.uint8)
    defects[3, 3:5] = 1
    rows, cols = (np.ascontiguousarray(i) for i in np.nonzero(defects))
    raw = np.zeros(shape, dtype=np.uint16)
    dark = np.zeros(shape, dtype=np.float32)
    gain = np.ones(shape, dtype=np.float32)
    out = np.empty(shape, dtype=np.uint16)
    correct_kernel(raw, dark, gain, defects, rows, cols, 100.0, 65535, out)
    for n_segments in (1, 3):
        breaks = np.ascontiguousarray(
            np.arange(1, n_segments, dtype=np.float32)[:, None, None] * np.ones(shape, np.float32)
        )
        slopes = np.ones((n_segments, *shape), dtype=np.float32)
        knots = np.arange(1, n_segments, dtype=np.float64)
        for directional in (False, True):
            correct_pwl_kernel(
                raw,
                dark,
                breaks,
                slopes,
                knots,
                defects,
                rows,
                cols,
                100.0,
                65535,
                directional,
                out,
            )

"""The fused numba correction kernels (offset, gain or piecewise gain, defect replacement).

Same formulas and results as :mod:`panelgate.calibration.reference`, which documents them
and is the test oracle. The kernels write into a caller-provided buffer, allocate no
frame-sized memory, release the GIL so correction overlaps I/O in other threads,
run in parallel, and are compiled and cached on disk on first use; call :func:`warm_up`
at start-up so that no patient exposure waits for the compiler.

One pass over the frame: the rows are corrected in bands, in parallel, and each band
replaces the defects of its inner rows while the band is still in cache, reading the
neighbours a :class:`~panelgate.calibration.plan.DefectPlan` lists (worked out once per
calibration set). The defects of the two rows at each band edge, whose neighbours lie in
the next band, are replaced in a short second pass. Replacement reads only good pixels,
so the order never changes the result.

* :func:`correct_kernel`: single-point gain (the one-segment case, same compiled code).
* :func:`correct_pwl_kernel`: per-pixel piecewise-linear (multi-point) gain, of which the
  single-point gain is the one-segment case.

The multi-point rows read the maps where they lie (one float32 plane per break and per
segment slope, the stored layout), compute every segment's value and select the pixel's with
comparisons, no search and no branch, so the loop along a row vectorises: two and three
segments (the usual flood ladders) are written out, more segments take one select pass
per break plane over two rows of scratch. An interleaved per-pixel layout was measured
and is slower (strided loads defeat the vectoriser). ``benchmarks/bench_correct.py``
compares the three-segment kernel with a bandwidth reference that reads the same planes.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from .plan import DefectPlan, plan_defects

__all__ = ["correct_kernel", "correct_pwl_kernel", "warm_up"]

# Rows corrected together before their defects are replaced, while still in cache
# (32 rows of 3072 px are 192 KiB of output); replacement reaches 2 rows up and down.
_BAND_ROWS = 32
_REACH_ROWS = 2


@numba.njit(nogil=True, cache=True)
def _replace(  # pragma: no cover - compiled
    flat: npt.NDArray[np.uint16], width: int, plan: DefectPlan, y0: int, y1: int
) -> None:
    """Replace the defects of rows ``y0 <= y < y1`` in ``flat`` (the output, raveled)."""
    rows, cols, start, pairs, index = plan.rows, plan.cols, plan.start, plan.pairs, plan.neighbours
    n = rows.shape[0]
    i = np.searchsorted(rows, y0)
    while i < n and rows[i] < y1:
        a0, a1 = start[i], start[i + 1]
        if a1 > a0:
            if pairs[i]:
                best = np.int64(-1)
                best_total = np.int64(0)
                for k in range(a0, a1, 2):
                    a = np.int64(flat[index[k]])
                    b = np.int64(flat[index[k + 1]])
                    change = abs(a - b)
                    if best < 0 or change < best:
                        best = change
                        best_total = a + b
                value = (best_total + 1) // 2
            else:
                total = np.int64(0)
                for k in range(a0, a1):
                    total += np.int64(flat[index[k]])
                n_good = np.int64(a1 - a0)
                value = (total + n_good // 2) // n_good
            flat[rows[i] * width + cols[i]] = np.uint16(value)
        i += 1


@numba.njit(nogil=True, cache=True)
def _rows_single(  # pragma: no cover - compiled
    raw: npt.NDArray[np.uint16],
    dark: npt.NDArray[np.float32],
    slopes: npt.NDArray[np.float32],
    pedestal: float,
    full_scale: int,
    out: npt.NDArray[np.uint16],
    y0: int,
    y1: int,
) -> None:
    """Rows ``y0 <= y < y1``, single-point gain: the one-segment case, no selects."""
    for y in range(y0, y1):
        for x in range(raw.shape[1]):
            s = float(raw[y, x]) - float(dark[y, x])
            v = (s - 0.0) * float(slopes[0, y, x]) + 0.0 + pedestal
            out[y, x] = np.uint16(min(max(np.floor(v + 0.5), 0.0), full_scale))


@numba.njit(nogil=True, cache=True)
def _rows_two(  # pragma: no cover - compiled
    raw: npt.NDArray[np.uint16],
    dark: npt.NDArray[np.float32],
    breaks: npt.NDArray[np.float32],
    slopes: npt.NDArray[np.float32],
    knots: npt.NDArray[np.float64],
    pedestal: float,
    full_scale: int,
    out: npt.NDArray[np.uint16],
    y0: int,
    y1: int,
) -> None:
    """Rows ``y0 <= y < y1``, two segments (one break): both values, one select."""
    k1 = knots[0]
    for y in range(y0, y1):
        for x in range(raw.shape[1]):
            s = float(raw[y, x]) - float(dark[y, x])
            b1 = float(breaks[0, y, x])
            v0 = (s - 0.0) * float(slopes[0, y, x]) + 0.0
            v1 = (s - b1) * float(slopes[1, y, x]) + k1
            v = (v1 if s >= b1 else v0) + pedestal
            out[y, x] = np.uint16(min(max(np.floor(v + 0.5), 0.0), full_scale))


@numba.njit(nogil=True, cache=True)
def _rows_three(  # pragma: no cover - compiled
    raw: npt.NDArray[np.uint16],
    dark: npt.NDArray[np.float32],
    breaks: npt.NDArray[np.float32],
    slopes: npt.NDArray[np.float32],
    knots: npt.NDArray[np.float64],
    pedestal: float,
    full_scale: int,
    out: npt.NDArray[np.uint16],
    y0: int,
    y1: int,
) -> None:
    """Rows ``y0 <= y < y1``, three segments (two breaks): every segment's value, selected.

    The three values cost three multiply-adds on numbers already loaded; choosing among the
    results (two selects, as ``reference`` takes the last break reached) is cheaper than
    choosing each segment's break, knot and slope, and leaves nothing to branch on.
    """
    k1, k2 = knots[0], knots[1]
    for y in range(y0, y1):
        for x in range(raw.shape[1]):
            s = float(raw[y, x]) - float(dark[y, x])
            b1 = float(breaks[0, y, x])
            b2 = float(breaks[1, y, x])
            v0 = (s - 0.0) * float(slopes[0, y, x]) + 0.0
            v1 = (s - b1) * float(slopes[1, y, x]) + k1
            v2 = (s - b2) * float(slopes[2, y, x]) + k2
            v = (v2 if s >= b2 else (v1 if s >= b1 else v0)) + pedestal
            out[y, x] = np.uint16(min(max(np.floor(v + 0.5), 0.0), full_scale))


@numba.njit(nogil=True, cache=True)
def _rows_piecewise(  # pragma: no cover - compiled
    raw: npt.NDArray[np.uint16],
    dark: npt.NDArray[np.float32],
    breaks: npt.NDArray[np.float32],
    slopes: npt.NDArray[np.float32],
    knots: npt.NDArray[np.float64],
    pedestal: float,
    full_scale: int,
    out: npt.NDArray[np.uint16],
    y0: int,
    y1: int,
) -> None:
    """Rows ``y0 <= y < y1``, any number of segments: one pass per break plane.

    Two rows of scratch: ``s`` and the value so far. Each break plane replaces the value
    where ``s`` reaches its break (with increasing breaks the last one reached wins, which
    is the segment of ``reference``), so every pass is a straight select along x.
    """
    w = raw.shape[1]
    row_s = np.empty(w, dtype=np.float64)
    row_v = np.empty(w, dtype=np.float64)
    for y in range(y0, y1):
        for x in range(w):
            s = float(raw[y, x]) - float(dark[y, x])
            row_s[x] = s
            row_v[x] = (s - 0.0) * float(slopes[0, y, x]) + 0.0
        for j in range(breaks.shape[0]):
            knot = knots[j]
            for x in range(w):
                b = float(breaks[j, y, x])
                s = row_s[x]
                candidate = (s - b) * float(slopes[j + 1, y, x]) + knot
                row_v[x] = candidate if s >= b else row_v[x]
        for x in range(w):
            v = row_v[x] + pedestal
            out[y, x] = np.uint16(min(max(np.floor(v + 0.5), 0.0), full_scale))


@numba.njit(nogil=True, parallel=True, cache=True)
def correct_pwl_kernel(  # pragma: no cover - compiled; covered under NUMBA_DISABLE_JIT=1
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
    """Correct ``raw`` into ``out`` (see ``reference.correct_pwl_reference``).

    ``out`` must be C-contiguous (defects are replaced through its flat view).
    """
    h, w = raw.shape
    n_breaks = breaks.shape[0]
    flat = out.reshape(h * w)
    n_bands = (h + _BAND_ROWS - 1) // _BAND_ROWS
    for band in numba.prange(n_bands):
        y0 = band * _BAND_ROWS
        y1 = min(h, y0 + _BAND_ROWS)
        if n_breaks == 0:
            _rows_single(raw, dark, slopes, pedestal, full_scale, out, y0, y1)
        elif n_breaks == 1:
            _rows_two(raw, dark, breaks, slopes, knots, pedestal, full_scale, out, y0, y1)
        elif n_breaks == 2:
            _rows_three(raw, dark, breaks, slopes, knots, pedestal, full_scale, out, y0, y1)
        else:
            _rows_piecewise(raw, dark, breaks, slopes, knots, pedestal, full_scale, out, y0, y1)
        # Inner rows: every neighbour they read is in this band, and already corrected.
        lo = y0 if y0 == 0 else y0 + _REACH_ROWS
        hi = y1 if y1 == h else y1 - _REACH_ROWS
        _replace(flat, w, plan, lo, hi)
    for band in numba.prange(n_bands):  # the rows at band edges, now that all are done
        y0 = band * _BAND_ROWS
        y1 = min(h, y0 + _BAND_ROWS)
        if y0 > 0:
            _replace(flat, w, plan, y0, y0 + _REACH_ROWS)
        if y1 < h:
            _replace(flat, w, plan, max(y0 + _REACH_ROWS, y1 - _REACH_ROWS), y1)


def correct_kernel(
    raw: npt.NDArray[np.uint16],
    dark: npt.NDArray[np.float32],
    gain: npt.NDArray[np.float32],
    plan: DefectPlan,
    pedestal: float,
    full_scale: int,
    out: npt.NDArray[np.uint16],
) -> None:
    """Correct ``raw`` into ``out`` (see ``reference.correct_reference``).

    The one-segment case of :func:`correct_pwl_kernel`, which it runs with ``gain`` viewed
    as the one segment's slopes (one compiled kernel serves both). ``gain`` and ``out``
    must be C-contiguous.
    """
    h, w = raw.shape
    correct_pwl_kernel(
        raw,
        dark,
        np.empty((0, h, w), dtype=np.float32),
        gain.reshape((1, h, w)),
        np.empty(0, dtype=np.float64),
        plan,
        pedestal,
        full_scale,
        out,
    )


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel signature panelgate uses.

    The arrays have the types and layouts :func:`panelgate.calibration.correct` passes:
    C-contiguous maps and output, a :class:`DefectPlan`, float64 knots.
    """
    shape = (8, 8)
    defects = np.zeros(shape, dtype=np.uint8)
    defects[3, 3:5] = 1
    raw = np.zeros(shape, dtype=np.uint16)
    dark = np.zeros(shape, dtype=np.float32)
    gain = np.ones(shape, dtype=np.float32)
    out = np.empty(shape, dtype=np.uint16)
    for directional in (False, True):
        plan = plan_defects(defects, directional)
        correct_kernel(raw, dark, gain, plan, 100.0, 65535, out)
        for n_segments in (1, 3):  # one signature: the segment count is a shape
            breaks = np.ascontiguousarray(
                np.arange(1, n_segments, dtype=np.float32)[:, None, None]
                * np.ones(shape, np.float32)
            )
            slopes = np.ones((n_segments, *shape), dtype=np.float32)
            knots = np.arange(1, n_segments, dtype=np.float64)
            correct_pwl_kernel(raw, dark, breaks, slopes, knots, plan, 100.0, 65535, out)

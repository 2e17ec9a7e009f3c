"""Grid-line suppression: a narrow band-stop at the anti-scatter grid's frequency.

A stationary grid leaves a line pattern of one spatial frequency across the image (often
aliased by the pixel pitch). The stage finds it as a peak of the mean power spectrum of
the lines of the field and removes it with a zero-phase notch: a second-order IIR notch
(``b = [1, -2cos ω, 1]``, ``a = [1, -2r·cos ω, r²]``, unit gain at zero frequency) run
forwards then backwards along each line, started at the line's first value in steady
state (the narrow-band removal of Lin et al., J Digit Imaging 19(4):351, 2006; the notch
is the textbook biquad, e.g. Oppenheim & Schafer, Discrete-Time Signal Processing, 5.3).
The -3 dB width of the notch is about ``(1 - r)/π`` cycles per pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from .logtransform import Engine

__all__ = ["GridPattern", "find_grid", "suppress_grid"]

_F32 = npt.NDArray[np.float32]

POLE_RADIUS = 0.97
"""r of the notch: about 0.01 cycles per pixel wide."""

PEAK_RATIO = 8.0
"""A grid peak stands this many times above the spectrum's median around it."""

LOWEST_CYCLES_PER_PX = 0.08
"""Below this a peak is anatomy, not a grid (grids: 30-80 lines/cm, pitch 0.1-0.2 mm)."""


@dataclass(frozen=True)
class GridPattern:
    """A grid's line pattern: ``axis`` 1 varies along rows (vertical lines), 0 along columns."""

    axis: int
    cycles_per_px: float


def find_grid(
    log: _F32, rows: slice = slice(None), cols: slice = slice(None)
) -> GridPattern | None:
    """Find the grid's frequency from the mean power spectrum of the field's lines.

    Every eighth line of the field (``rows``, ``cols``) is mean-removed, Hann-windowed and
    transformed (numpy.fft); the strongest peak above :data:`LOWEST_CYCLES_PER_PX` that
    stands :data:`PEAK_RATIO` above the median of the spectrum is the grid, its frequency
    refined by a parabola through the peak bin and its neighbours. The axis with the
    stronger peak wins; None when neither has one.
    """
    field = log[rows, cols]
    best: tuple[float, GridPattern] | None = None
    for axis in (1, 0):
        lines = field[::8] if axis == 1 else field[:, ::8].T
        if lines.shape[1] < 64:
            continue
        n = lines.shape[1]
        data = (lines - lines.mean(axis=1, keepdims=True)) * np.hanning(n)
        power = (np.abs(np.fft.rfft(data, axis=1)) ** 2).mean(axis=0)
        start = math.ceil(LOWEST_CYCLES_PER_PX * n)
        k = start + int(np.argmax(power[start:-1]))
        ratio = power[k] / max(float(np.median(power[start:])), 1e-30)
        if ratio < PEAK_RATIO or (best is not None and ratio <= best[0]):
            continue
        a, b, c = np.log(power[k - 1 : k + 2] + 1e-30)
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
        best = (ratio, GridPattern(axis, (k + shift) / n))
    return None if best is None else best[1]


def suppress_grid(log: _F32, grid: GridPattern, *, engine: Engine = "numba") -> _F32:
    """Remove ``grid``'s frequency along its axis with the zero-phase notch.

    Raises
    ------
    ValueError
        Not a 2-D float32 image, or a frequency outside (0, 0.5] cycles per pixel.
    """
    if log.ndim != 2 or log.dtype != np.float32:
        raise ValueError(f"need a 2-D float32 image, got {log.dtype} {log.shape}")
    if not 0 < grid.cycles_per_px <= 0.5 or grid.axis not in (0, 1):
        raise ValueError(f"not a grid pattern: {grid}")
    coefficients = _notch(grid.cycles_per_px)
    if engine == "numpy":
        return _notch_reference(log, coefficients, grid.axis)
    out = np.empty_like(log)
    if grid.axis == 1:
        _notch_rows(log, *coefficients, out)
    else:
        _notch_cols(log, *coefficients, out)
    return out


def _notch(cycles_per_px: float) -> tuple[float, float, float, float, float]:
    """b0, b1, b2, a1, a2 of the notch, normalised to unit gain at zero frequency."""
    c = math.cos(2 * math.pi * cycles_per_px)
    r = POLE_RADIUS
    norm = (1 - 2 * r * c + r * r) / (2 - 2 * c)
    return norm, -2 * c * norm, norm, -2 * r * c, r * r


def _notch_reference(log: _F32, co: tuple[float, float, float, float, float], axis: int) -> _F32:
    """Run the numpy oracle: the same recursion, one step for all lines at once."""
    data = log.astype(np.float64) if axis == 0 else log.T.astype(np.float64)
    b0, b1, b2, a1, a2 = co
    for direction in (1, -1):
        lines = data[::direction]
        out = np.empty_like(lines)
        x1 = x2 = y1 = y2 = lines[0].copy()
        for i in range(lines.shape[0]):
            x = lines[i]
            y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            out[i] = y
            x2, x1, y2, y1 = x1, x, y1, y
        data = out[::direction]
    result = data.astype(np.float32)
    return result if axis == 0 else np.ascontiguousarray(result.T)


@numba.njit(nogil=True, cache=True, parallel=True)
def _notch_rows(  # noqa: PLR0917  # pragma: no cover - compiled
    log: _F32, b0: float, b1: float, b2: float, a1: float, a2: float, out: _F32
) -> None:
    h, w = log.shape
    for y in numba.prange(h):
        line = np.empty(w, np.float64)
        x1 = x2 = y1 = y2 = np.float64(log[y, 0])
        for i in range(w):
            x = np.float64(log[y, i])
            v = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            line[i] = v
            x2, x1, y2, y1 = x1, x, y1, v
        x1 = x2 = y1 = y2 = line[w - 1]
        for i in range(w - 1, -1, -1):
            x = line[i]
            v = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            out[y, i] = np.float32(v)
            x2, x1, y2, y1 = x1, x, y1, v


@numba.njit(nogil=True, cache=True, parallel=True)
def _notch_cols(  # noqa: PLR0917  # pragma: no cover - compiled
    log: _F32, b0: float, b1: float, b2: float, a1: float, a2: float, out: _F32
) -> None:
    h, w = log.shape
    block = 64
    for start in numba.prange((w + block - 1) // block):
        x_lo = start * block
        x_hi = min(x_lo + block, w)
        m = x_hi - x_lo
        line = np.empty((h, m), np.float64)
        x1 = log[0, x_lo:x_hi].astype(np.float64)
        x2, y1, y2 = x1.copy(), x1.copy(), x1.copy()
        for i in range(h):
            for j in range(m):
                x = np.float64(log[i, x_lo + j])
                v = b0 * x + b1 * x1[j] + b2 * x2[j] - a1 * y1[j] - a2 * y2[j]
                line[i, j] = v
                x2[j], x1[j], y2[j], y1[j] = x1[j], x, y1[j], v
        for j in range(m):
            x1[j] = x2[j] = y1[j] = y2[j] = line[h - 1, j]
        for i in range(h - 1, -1, -1):
            for j in range(m):
                x = line[i, j]
                v = b0 * x + b1 * x1[j] + b2 * x2[j] - a1 * y1[j] - a2 * y2[j]
                out[i, x_lo + j] = np.float32(v)
                x2[j], x1[j], y2[j], y1[j] = x1[j], x, y1[j], v

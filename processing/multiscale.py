"""Multi-scale contrast equalisation on a Laplacian pyramid, with edge and noise control.

The log image is split into a Laplacian pyramid (Burt & Adelson, IEEE Trans. Commun. 31,
1983; 5-tap binomial kernel 1-4-6-4-1 / 16, edges replicated). Each band's coefficients
pass a non-linear gain curve, as in multiscale image contrast amplification (Vuylsteke &
Schoeters, SPIE 2167, 1994): ``y = a·x·((x² + x0²)/M²)^((p-1)/2)``, which is the published
``a·M·(x/M)^p`` for ``|x| >> x0`` and stays linear (slope ``a·(x0/M)^(p-1)``) for
coefficients below ``x0`` (where that slope reaches the preset's ``max_small_gain``, or
twice the image's noise if larger), so that noise is not amplified without bound.
With p < 1 subtle detail is amplified against large structures; the gain ``a`` of
the fine bands enhances edges (:meth:`Preset.band_gain`). The finest band is cored
softly, ``y·x²/(x² + (c·σ)²)``, to suppress noise. The residual's deviation from its mean
is multiplied by the latitude (dynamic-range compression). Beyond ``|x| = 2`` decades the
curve continues linearly.

The reconstruction is fused: each level is one pass that expands the coarser levels,
forms the band, applies the curve from a table (linear interpolation; the table is the
oracle's own curve) and adds the change, so no band is ever stored.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from .logtransform import Engine
from .presets import Preset

__all__ = ["equalise", "expand", "gain_curve", "reduce"]

_F32 = npt.NDArray[np.float32]

CURVE_RANGE_DECADES = 2.0
"""The gain curve is tabulated over ±this; beyond, it continues linearly."""

_LUT_SIZE = 8193
_THREADED_PX = 512 * 512  # levels at least this large run on all cores
_MIN_SIZE = 8  # no pyramid level smaller than this


def gain_curve(  # noqa: PLR0917 - the curve's parameters, in the order of the docs
    x: npt.NDArray[np.float64], gain: float, power: float, scale: float, x0: float, coring: float
) -> npt.NDArray[np.float64]:
    """Return the band gain curve at ``x`` (decades): the oracle and the table's source.

    ``gain`` is a, ``power`` p, ``scale`` M, ``x0`` the linear limit and ``coring`` the
    coring threshold c·σ (0 for none); all in decades except a and p.
    """
    r = CURVE_RANGE_DECADES
    inner = np.clip(x, -r, r)
    y = gain * inner * ((inner**2 + x0**2) / scale**2) ** ((power - 1.0) / 2.0)
    if coring > 0:
        y = y * inner**2 / (inner**2 + coring**2)
    top, slope = _tail(gain, power, scale, x0, coring)
    outside = np.abs(x) > r
    result: npt.NDArray[np.float64] = np.where(
        outside, np.sign(x) * (top + slope * (np.abs(x) - r)), y
    )
    return result


def _tail(gain: float, power: float, scale: float, x0: float, coring: float) -> tuple[float, float]:
    """Return the curve at +r and its slope there (numerically): the linear continuation beyond."""
    r = CURVE_RANGE_DECADES
    h = r * 1e-4
    curve = (gain, power, scale, x0, coring)
    top = _scalar_curve(r, curve)
    return top, (top - _scalar_curve(r - h, curve)) / h


def _scalar_curve(x: float, curve: tuple[float, float, float, float, float]) -> float:
    gain, power, scale, x0, c = curve
    y = gain * x * ((x * x + x0 * x0) / scale**2) ** ((power - 1.0) / 2.0)
    return float(y * x * x / (x * x + c * c)) if c > 0 else float(y)


def reduce(image: _F32, *, engine: Engine = "numba") -> _F32:
    """Blur with the 5-tap binomial kernel and keep every second row and column.

    The result has ``((h + 1) // 2, (w + 1) // 2)`` pixels; edges are replicated.
    """
    h, w = image.shape
    if engine == "numpy":
        padded = np.pad(image, 2, mode="edge")
        hc, wc = (h + 1) // 2, (w + 1) // 2
        weights = np.array([1, 4, 6, 4, 1], dtype=np.float32) / np.float32(16)
        rows = np.zeros((hc, w + 4), np.float32)
        for a in range(5):
            rows = rows + weights[a] * padded[a : a + 2 * hc - 1 : 2]
        out = np.zeros((hc, wc), np.float32)
        for b in range(5):
            out = out + weights[b] * rows[:, b : b + 2 * wc - 1 : 2]
        return out
    out = np.empty(((h + 1) // 2, (w + 1) // 2), np.float32)
    kernel = _reduce_parallel if image.size >= _THREADED_PX else _reduce_serial
    kernel(image, out)
    return out


def expand(coarse: _F32, shape: tuple[int, int]) -> _F32:
    """Upsample ``coarse`` to ``shape`` (the inverse step of :func:`reduce`), numpy oracle.

    Even positions take (1, 6, 1)/8 of the coarse neighbours, odd ones (1, 1)/2; the
    coarse image's edges are replicated.
    """
    return _expand_axis(_expand_axis(coarse, shape[0], 0), shape[1], 1)


def _expand_axis(c: _F32, n: int, axis: int) -> _F32:
    c = np.moveaxis(c, axis, 0)
    m = c.shape[0]
    i = np.arange(n) // 2
    prev, here, nxt = c[np.maximum(i - 1, 0)], c[i], c[np.minimum(i + 1, m - 1)]
    even = (np.arange(n) % 2 == 0)[(slice(None),) + (None,) * (c.ndim - 1)]
    e = np.float32(0.125) * prev + np.float32(0.75) * here + np.float32(0.125) * nxt
    o = np.float32(0.5) * here + np.float32(0.5) * nxt
    return np.moveaxis(np.where(even, e, o).astype(np.float32), 0, axis)


def equalise(log: _F32, preset: Preset, noise_decades: float, *, engine: Engine = "numba") -> _F32:
    """Apply multi-scale contrast equalisation to a log image (decades in, decades out).

    Parameters
    ----------
    log : numpy.ndarray
        float32 log10 air kerma, outside of the field already filled (no blade edge).
    preset : Preset
        Levels, gain-curve power and scale, band gains, latitude and noise coring.
    noise_decades : float
        Standard deviation of the image noise in decades (the curve's linear limit is
        twice this, the coring threshold ``noise_coring`` times this), > 0.
    engine : {"numba", "numpy"}
        The fused kernels or the numpy oracle (bands formed and stored explicitly).

    Raises
    ------
    ValueError
        Not a 2-D float32 image, or a noise level that is not positive.
    """
    if log.ndim != 2 or log.dtype != np.float32:
        raise ValueError(f"need a 2-D float32 image, got {log.dtype} {log.shape}")
    if not (np.isfinite(noise_decades) and noise_decades > 0):
        raise ValueError(f"noise_decades must be positive, got {noise_decades!r}")
    pyramid = [log]
    while len(pyramid) <= preset.levels and min(pyramid[-1].shape) >= 2 * _MIN_SIZE:
        pyramid.append(reduce(pyramid[-1], engine=engine))
    residual = pyramid[-1]
    mean = np.float32(residual.mean(dtype=np.float64))
    change = (np.float32(preset.latitude - 1.0) * (residual - mean)).astype(np.float32)
    for band in range(len(pyramid) - 2, -1, -1):
        curve = _band_curve(preset, band, noise_decades)
        change = _collapse(
            pyramid[band], pyramid[band + 1], change, curve, finest=band == 0, engine=engine
        )
    return change


def _band_curve(
    preset: Preset, band: int, noise: float
) -> tuple[float, float, float, float, float]:
    coring = preset.noise_coring * noise if band == 0 else 0.0
    scale, power = preset.contrast_scale_decades, preset.contrast_power
    x0 = 2.0 * noise
    if power < 1:  # where (x/M)^(p-1) reaches max_small_gain
        x0 = max(x0, scale * preset.max_small_gain ** (1.0 / (power - 1.0)))
    return (preset.band_gain(band), power, scale, x0, coring)


def _collapse(
    g: _F32,
    coarse: _F32,
    change: _F32,
    curve: tuple[float, float, float, float, float],
    *,
    finest: bool,
    engine: Engine,
) -> _F32:
    """Return one level: the change of the reconstruction (plus ``g`` at the finest level)."""
    if engine == "numpy":
        band = g - expand(coarse, g.shape)
        shaped = gain_curve(band.astype(np.float64), *curve).astype(np.float32)
        result: _F32 = expand(change, g.shape) + (shaped - band)
        return result + g if finest else result
    r = CURVE_RANGE_DECADES
    xs = np.linspace(-r, r, _LUT_SIZE)
    table = gain_curve(xs, *curve)
    _, slope = _tail(*curve)
    out = np.empty(g.shape, np.float32)
    kernel = _collapse_parallel if g.size >= _THREADED_PX else _collapse_serial
    kernel(
        g, coarse, change, table.astype(np.float32), np.float32(r), np.float32(slope), finest, out
    )
    return out


def _reduce_rows(src: _F32, dst: _F32) -> None:  # pragma: no cover - compiled
    h, w = src.shape
    hc, wc = dst.shape
    k0, k1, k2 = np.float32(1 / 16), np.float32(4 / 16), np.float32(6 / 16)
    weights = (k0, k1, k2, k1, k0)
    for i in numba.prange(hc):
        rows = np.zeros(w, np.float32)
        for a in range(5):
            y = min(max(2 * i + a - 2, 0), h - 1)
            wa = weights[a]
            for x in range(w):
                rows[x] = rows[x] + wa * src[y, x]
        for j in range(wc):
            acc = np.float32(0.0)
            for b in range(5):
                acc = acc + weights[b] * rows[min(max(2 * j + b - 2, 0), w - 1)]
            dst[i, j] = acc


@numba.njit(nogil=True, cache=True)
def _expand_line(t: _F32, out: _F32) -> None:  # pragma: no cover - compiled
    """Expand one coarse line to the fine line ``out`` (even: 1-6-1 / 8, odd: 1-1 / 2)."""
    m = t.shape[0]
    w = out.shape[0]
    for j in range((w + 1) // 2):
        here = t[j]
        nxt = t[min(j + 1, m - 1)]
        prev = t[max(j - 1, 0)]
        out[2 * j] = np.float32(0.125) * prev + np.float32(0.75) * here + np.float32(0.125) * nxt
        if 2 * j + 1 < w:
            out[2 * j + 1] = np.float32(0.5) * here + np.float32(0.5) * nxt


@numba.njit(nogil=True, cache=True)
def _expand_row(c: _F32, y: int, out: _F32) -> None:  # pragma: no cover - compiled
    m = c.shape[0]
    i = y // 2
    here = c[i]
    nxt = c[min(i + 1, m - 1)]
    if y % 2 == 0:
        prev = c[max(i - 1, 0)]
        for j in range(c.shape[1]):
            out[j] = (
                np.float32(0.125) * prev[j]
                + np.float32(0.75) * here[j]
                + np.float32(0.125) * nxt[j]
            )
    else:
        for j in range(c.shape[1]):
            out[j] = np.float32(0.5) * here[j] + np.float32(0.5) * nxt[j]


def _collapse_rows(  # noqa: PLR0917  # pragma: no cover - compiled
    g: _F32,
    coarse: _F32,
    change: _F32,
    table: _F32,
    r: np.float32,
    slope: np.float32,
    finest: bool,
    out: _F32,
) -> None:
    h, w = g.shape
    n = table.shape[0]
    inv_step = np.float32((n - 1) / (2.0 * r))
    for y in numba.prange(h):
        tg = np.empty(coarse.shape[1], np.float32)
        td = np.empty(coarse.shape[1], np.float32)
        _expand_row(coarse, y, tg)
        _expand_row(change, y, td)
        eg = np.empty(w, np.float32)
        ed = np.empty(w, np.float32)
        _expand_line(tg, eg)
        _expand_line(td, ed)
        for x in range(w):
            b = g[y, x] - eg[x]
            if b >= r:
                shaped = table[n - 1] + slope * (b - r)
            elif b <= -r:
                shaped = table[0] + slope * (b + r)
            else:
                t = (b + r) * inv_step
                k = min(int(t), n - 2)
                frac = t - np.float32(k)
                shaped = table[k] + frac * (table[k + 1] - table[k])
            value = ed[x] + (shaped - b)
            out[y, x] = value + g[y, x] if finest else value


# Each kernel twice: threaded for the large levels, serial for the small ones, where
# starting the threads costs more than the work (on a busy machine, milliseconds).
_reduce_parallel = numba.njit(nogil=True, cache=True, parallel=True)(_reduce_rows)
_reduce_serial = numba.njit(nogil=True, cache=True)(_reduce_rows)
_collapse_parallel = numba.njit(nogil=True, cache=True, parallel=True)(_collapse_rows)
_collapse_serial = numba.njit(nogil=True, cache=True)(_collapse_rows)

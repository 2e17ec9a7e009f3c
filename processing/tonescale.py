"""Tone scale (VOI) to the output bit depth, polarity, and the shaded field masked.

The processed log image is mapped to grey levels by a sigmoid characteristic curve (the
toe and shoulder of a film's H&D curve, the classic rendition that DR consoles imitate;
Flynn, AAPM 2006 course, "grayscale rendition"): the ``low_pct`` percentile of the
relevant region becomes the brightest grey, the ``high_pct`` percentile the darkest, so
that bone is bright and air dark as radiographs are read. Outside the exposure field the
image is black (the "black surround" that spares the reader the glare of the shaded
border).

The grey levels are stored as MONOCHROME1 (pixel values rising with the dose, the
smallest shown white; PS3.3 C.7.6.3.1.2) or, when so configured, MONOCHROME2 (the
inverse values). The table of the curve (4096 entries across the window, outside it the
clipped ends) is evaluated by the numba kernel; the numpy oracle evaluates the sigmoid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from .field import Field
from .logtransform import Engine

__all__ = ["ToneWindow", "tone_map", "tone_window"]

_F32 = npt.NDArray[np.float32]
_LUT_SIZE = 4096


@dataclass(frozen=True)
class ToneWindow:
    """The log range that the tone curve spans: ``low`` shows white, ``high`` black."""

    low: float
    high: float
    contrast: float


def tone_window(
    processed: _F32,
    relevant: npt.NDArray[np.bool_],
    low_pct: float,
    high_pct: float,
    contrast: float,
) -> ToneWindow:
    """Return the window from percentiles of the relevant region (every 4th pixel each way).

    Raises
    ------
    ValueError
        An empty relevant region or percentiles out of order.
    """
    if not 0 <= low_pct < high_pct <= 100:
        raise ValueError(f"need 0 <= low_pct < high_pct <= 100, got {low_pct}, {high_pct}")
    sample = processed[::4, ::4][relevant[::4, ::4]]
    if sample.size == 0:
        sample = processed[relevant]
    if sample.size == 0:
        raise ValueError("the relevant region is empty")
    low, high = (float(v) for v in np.percentile(sample, [low_pct, high_pct]))
    return ToneWindow(low, max(high, low + 1e-3), contrast)


def _curve(t: npt.NDArray[np.float64], contrast: float) -> npt.NDArray[np.float64]:
    """Brightness 1 (white) at t = 0 falling to 0 (black) at t = 1, a normalised sigmoid."""
    t = np.clip(t, 0.0, 1.0)
    s = 1.0 / (1.0 + np.exp(-contrast * (t - 0.5)))
    s0, s1 = 1.0 / (1.0 + np.exp(contrast / 2)), 1.0 / (1.0 + np.exp(-contrast / 2))
    brightness: npt.NDArray[np.float64] = 1.0 - (s - s0) / (s1 - s0)
    return brightness


def tone_map(
    processed: _F32,
    window: ToneWindow,
    field: Field,
    bits: int,
    *,
    monochrome1: bool = True,
    engine: Engine = "numba",
) -> npt.NDArray[np.uint16]:
    """Map the processed log image to ``bits``-bit grey levels, the outside of ``field`` black.

    Returns
    -------
    numpy.ndarray
        uint16 pixels in ``[0, 2**bits - 1]``: MONOCHROME1 values (``max - brightness``)
        when ``monochrome1``, else MONOCHROME2 (``brightness``).

    Raises
    ------
    ValueError
        ``bits`` outside 8-16 or an image of another shape than the field's.
    """
    if not 8 <= bits <= 16:
        raise ValueError(f"bits must be 8-16, got {bits}")
    if processed.shape != field.shape or processed.dtype != np.float32:
        raise ValueError(
            f"need a float32 image of {field.shape}, got {processed.dtype} {processed.shape}"
        )
    top = (1 << bits) - 1
    span = window.high - window.low
    if engine == "numpy":
        t = (processed.astype(np.float64) - window.low) / span
        grey = np.rint(_curve(t, window.contrast) * top)
        grey[~field.inside()] = 0.0
        values = top - grey if monochrome1 else grey
        return values.astype(np.uint16)
    # the kernel's table: the brightness at the centre of each of 4096 bins of the window
    centres = (np.arange(_LUT_SIZE) + 0.5) / _LUT_SIZE
    grey_table = np.rint(_curve(centres, window.contrast) * top)
    table = (top - grey_table if monochrome1 else grey_table).astype(np.uint16)
    surround = np.uint16(top if monochrome1 else 0)
    out = np.empty(processed.shape, np.uint16)
    box = (field.top, field.bottom, field.left, field.right)
    _tone_kernel(
        processed, np.float32(window.low), np.float32(_LUT_SIZE / span), table, surround, *box, out
    )
    return out


@numba.njit(nogil=True, cache=True, parallel=True)
def _tone_kernel(  # noqa: PLR0917  # pragma: no cover - compiled
    processed: _F32,
    low: np.float32,
    scale: np.float32,
    table: npt.NDArray[np.uint16],
    surround: np.uint16,
    top: int,
    bottom: int,
    left: int,
    right: int,
    out: npt.NDArray[np.uint16],
) -> None:
    h, w = processed.shape
    last = table.shape[0] - 1
    for y in numba.prange(h):
        for x in range(w):
            if y < top or y >= bottom or x < left or x >= right:
                out[y, x] = surround
                continue
            t = (processed[y, x] - low) * scale
            k = 0 if t < 0 else (last if t >= last else int(t))
            out[y, x] = table[k]

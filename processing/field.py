"""Exposure-field (collimation) detection and the masks of the relevant image region.

The collimator's blades shade straight bands along the panel's borders: across a blade's
edge the signal drops by a large factor along the whole length of the edge inside the
field, whereas the edges of anatomy are curved, short or of both signs. For each column
(and row) the stage counts the lines on which the log image steps up or down by more
than :data:`STEP_DECADES` across it; a blade is the column where that count covers most
of the field's lines (the idea of the projection methods reviewed by Luo & Senn, SPIE
3034, 1997, and of Vuylsteke's irradiation-field recognition, SPIE 2710, 1996).
Axis-aligned blades only: a rotated collimator is found as its bounding box.

Two passes: the first, over every second pixel of the whole image, finds the blades
roughly (a blade's edge only spans the field's lines, so it is diluted by the shaded
ones); the second counts at full resolution over the field of the first and keeps an
edge only when it spans more than half of it.

Inside the field the direct exposure (unattenuated beam beside the body) is the top of
the histogram: pixels within :data:`DIRECT_MARGIN_DECADES` of the field's 99.5th
percentile. The relevant region of IEC 62494-1 is the field without direct exposure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from .logtransform import Engine

__all__ = ["DIRECT_MARGIN_DECADES", "STEP_DECADES", "Field", "detect_field", "edge_counts"]

_F32 = npt.NDArray[np.float32]
_I64 = npt.NDArray[np.int64]

STEP_DECADES = 0.25
"""A blade's edge: the log kerma changes by more than this across two pixels (× 1.8)."""

DIRECT_MARGIN_DECADES = 0.15
"""Direct exposure: within this of the field's 99.5th percentile (transmission > 0.7)."""

FLOOR_BELOW_P90_DECADES = 3.0
"""Values below the 90th percentile minus this are raised to it before counting steps,
so that the noise of a fully shaded region (near zero signal) does not count as edges."""

FLAT_SHARE = 0.1
"""The shade beyond a blade is flat: its line means vary by less than this share of the
mean just inside the edge (5th to 95th percentile)."""

_INSIDE = 8  # sampled lines just inside an edge, for its level

_STRIDE = 2  # count every second line along the direction summed over


@dataclass(frozen=True)
class Field:
    """The exposure field: rows ``top <= y < bottom``, columns ``left <= x < right``.

    Parameters
    ----------
    top, bottom, left, right : int
        The field's bounds in pixels (half-open).
    shape : tuple of int
        The image's (rows, columns).
    direct_log_kerma : float
        Pixels inside the field above this log10 air kerma (µGy) are direct exposure.
    """

    top: int
    bottom: int
    left: int
    right: int
    shape: tuple[int, int]
    direct_log_kerma: float

    @property
    def collimated(self) -> bool:
        """True when a blade shades part of the panel."""
        h, w = self.shape
        return (self.top, self.bottom, self.left, self.right) != (0, h, 0, w)

    def inside(self) -> npt.NDArray[np.bool_]:
        """Return the mask of the exposure field (True inside)."""
        mask = np.zeros(self.shape, dtype=np.bool_)
        mask[self.top : self.bottom, self.left : self.right] = True
        return mask

    def relevant(self, log: _F32) -> npt.NDArray[np.bool_]:
        """Return the relevant region: inside the field and not direct exposure."""
        mask = self.inside()
        mask &= log < self.direct_log_kerma
        return mask


def detect_field(log: _F32, *, engine: Engine = "numba") -> Field:
    """Find the collimated field and the direct-exposure level of a log image.

    Parameters
    ----------
    log : numpy.ndarray
        float32 log10 air kerma (:func:`~panelgate.processing.logtransform.log_kerma`).
    engine : {"numba", "numpy"}
        The compiled counting kernel or its numpy oracle.

    Returns
    -------
    Field
        The whole image when no blade is found.

    Raises
    ------
    ValueError
        Not a 2-D float32 image of at least 16 × 16 pixels.
    """
    if log.ndim != 2 or log.dtype != np.float32 or min(log.shape) < 16:
        raise ValueError(f"need a 2-D float32 image of >= 16x16 px, got {log.dtype} {log.shape}")
    h, w = log.shape
    floor = float(np.percentile(log[::8, ::8], 90)) - FLOOR_BELOW_P90_DECADES
    half = np.ascontiguousarray(log[::2, ::2])
    rough = _find_box(half, floor, (0, half.shape[0], 0, half.shape[1]), 0.15, engine)
    box = (2 * rough[0], min(2 * rough[1], h), 2 * rough[2], min(2 * rough[3], w))
    top, bottom, left, right = _find_box(log, floor, box, 0.5, engine)
    inner = log[top:bottom:4, left:right:4]
    direct = float(np.percentile(inner, 99.5)) - DIRECT_MARGIN_DECADES
    return Field(top, bottom, left, right, (h, w), direct)


def _find_box(
    log: _F32, floor: float, box: tuple[int, int, int, int], share: float, engine: Engine
) -> tuple[int, int, int, int]:
    """Return the field's bounds in ``log``, counting over the lines of ``box``."""
    kerma = np.power(np.float32(10.0), log[::8, ::2])  # for the flatness of a shade
    return _box(kerma, edge_counts(log, floor, box, engine=engine), box, share)


def edge_counts(
    log: _F32, floor: float, box: tuple[int, int, int, int], *, engine: Engine = "numba"
) -> tuple[_I64, _I64, _I64, _I64]:
    """Count the steps across each column and row, over the lines of ``box``.

    Returns ``(up_col, down_col, up_row, down_row)``: for column x, the number of rows
    of ``box`` (every second one) where ``max(L, floor)`` rises (falls) by more than
    :data:`STEP_DECADES` from x-1 to x+1; the same for rows over the columns of ``box``.
    """
    h, w = log.shape
    out = (
        np.zeros(w, np.int64),
        np.zeros(w, np.int64),
        np.zeros(h, np.int64),
        np.zeros(h, np.int64),
    )
    y0, y1, x0, x1 = box
    if engine == "numpy":
        clipped = np.maximum(log, np.float32(floor))
        d = clipped[y0:y1:_STRIDE, 2:] - clipped[y0:y1:_STRIDE, :-2]
        out[0][1:-1] = (d > STEP_DECADES).sum(axis=0)
        out[1][1:-1] = (d < -STEP_DECADES).sum(axis=0)
        d = clipped[2:, x0:x1:_STRIDE] - clipped[:-2, x0:x1:_STRIDE]
        out[2][1:-1] = (d > STEP_DECADES).sum(axis=1)
        out[3][1:-1] = (d < -STEP_DECADES).sum(axis=1)
        return out
    _count_kernel(log, np.float32(floor), np.float32(STEP_DECADES), y0, y1, x0, x1, *out)
    return out


def _box(
    kerma: _F32,
    counts: tuple[_I64, _I64, _I64, _I64],
    box: tuple[int, int, int, int],
    share: float,
) -> tuple[int, int, int, int]:
    """Return the field's bounds from the step counts; an edge must span ``share`` of the box.

    ``kerma`` is the linear air kerma, every 8th row and 2nd column.
    """
    up_col, down_col, up_row, down_row = counts
    y0, y1, x0, x1 = box
    n_rows = len(range(y0, y1, _STRIDE))
    n_cols = len(range(x0, x1, _STRIDE))
    rows = kerma[y0 // 8 : (y1 + 7) // 8]
    left, right = _pair(rows, 2, up_col, down_col, n_rows * share)
    cols = kerma[:, x0 // 2 : (x1 + 1) // 2].T
    top, bottom = _pair(cols, 8, up_row, down_row, n_cols * share)
    return top, bottom, left, right


def _pair(lines: _F32, step: int, up: _I64, down: _I64, needed: float) -> tuple[int, int]:
    """Return the first and last line inside the field along one axis (whole axis if none).

    ``lines`` holds the image along this axis sampled every ``step`` pixels; each side's
    edge is chosen by :func:`_edge`.
    """
    n = up.size
    first = _edge(lines, step, up, needed, rising=True)
    last = _edge(lines, step, down, needed, rising=False)
    first = 0 if first is None else first
    last = n if last is None else last
    if last - first < 8:  # not a field: blades crossing, or anatomy taken for a blade
        return 0, n
    return first, last


def _edge(lines: _F32, step: int, count: _I64, needed: float, *, rising: bool) -> int | None:
    """Return the blade edge of one side, or None.

    Of the counts that span ``needed`` lines, the strongest whose shaded side (everything
    beyond the edge, to the panel's border) is flat: the means of its lines across the
    edge differ by less than :data:`FLAT_SHARE` of the mean just inside the edge (air
    kerma, linear). A blade shades everything beyond it evenly down to scatter; a step
    from the body to the direct beam, which spans the lines too, has the body beyond it.
    """
    for peak in np.argsort(-count, kind="stable")[:32]:
        if count[peak] < needed:
            return None
        edge = _position(count, int(peak))
        cut = edge // step if rising else (edge + step - 1) // step
        beyond = lines[:, :cut] if rising else lines[:, cut:]
        inside = lines[:, cut : cut + _INSIDE] if rising else lines[:, max(cut - _INSIDE, 0) : cut]
        if beyond.shape[1] < 2 or inside.size == 0:
            return edge
        profile = beyond.mean(axis=0)
        low, high = np.percentile(profile, [5, 95])
        if high - low < FLAT_SHARE * float(inside.mean()):
            return edge
    return None


def _position(count: _I64, peak: int) -> int:
    """Return the edge from the centroid of the count around its peak.

    The count at x measures the step between x-1 and x+1: a sharp edge between x0-1 and
    x0 counts at x0-1 and x0, so the edge is at the centroid plus one half.
    """
    lo, hi = max(peak - 2, 0), min(peak + 3, count.size)
    weights = count[lo:hi].astype(np.float64)
    centre = float((weights * np.arange(lo, hi)).sum() / weights.sum())
    return int(np.floor(centre + 1.0))


@numba.njit(nogil=True, cache=True, parallel=True)
def _count_kernel(  # noqa: PLR0917  # pragma: no cover - compiled
    log: _F32,
    floor: np.float32,
    step: np.float32,
    y0: int,
    y1: int,
    x0: int,
    x1: int,
    up_col: _I64,
    down_col: _I64,
    up_row: _I64,
    down_row: _I64,
) -> None:
    h, w = log.shape
    block = 128  # columns per task: each task owns its counts, no partial sums
    for b in numba.prange((w + block - 1) // block):
        xa = max(b * block, 1)
        xb = min((b + 1) * block, w - 1)
        for y in range(y0, y1, 2):
            for x in range(xa, xb):
                d = max(log[y, x + 1], floor) - max(log[y, x - 1], floor)
                up_col[x] += d > step
                down_col[x] += d < -step
    for y in numba.prange(1, h - 1):
        up = 0
        down = 0
        for x in range(x0, x1, 2):
            d = max(log[y + 1, x], floor) - max(log[y - 1, x], floor)
            up += d > step
            down += d < -step
        up_row[y] = up
        down_row[y] = down

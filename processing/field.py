"""Exposure-field (collimation) detection and the masks of the relevant image region.

The collimator's blades shade straight bands along the panel's borders. A blade's
signature is a straight line across the image where the signal drops to the collimated
floor: inside, primary and scatter; beyond, scatter only (and the blades' leakage), down
to the panel's border. The step is large on air or lung, but small where the body is
nearly opaque under the blade and its scatter reaches past the blade (a chest at 70 kV):
a threshold on each line's step misses it there. So the stage projects the gradient: for
each column (and row) it sums, over the lines of a box, the step of the log image across
it (``max(L, floor)`` from x-1 to x+1); along a blade the steps add up on every line,
whereas the edges of anatomy are curved, short or of both signs and partly cancel (the
projection methods reviewed by Luo & Senn, SPIE 3034, 1997, and Vuylsteke's
irradiation-field recognition, SPIE 2710, 1996). Axis-aligned blades only: the step
must fall on a few pixels of every line (a straight edge tilted by more than about half
a degree, such as the QC edge device, is not a blade).

Of the projected steps that reach :data:`MIN_STEP_DECADES` on average, the strongest
whose shaded side is consistent with a blade is the edge: beyond it, from the panel's
border towards the edge, the signal (line means, smoothed over the grid's alias) never
falls by more than :data:`MONOTONE_SHARE` of its highest value: scatter only, rising
towards the field, or flat; a step from the body to the direct beam has the body beyond
it, whose lungs and mediastinum rise and fall.

Two passes: the first, over every second pixel of the whole image, finds the blades
roughly (a blade's edge only spans the field's lines, so its mean step is diluted by the
shaded ones: half the threshold); the second sums at full resolution over the field of
the first.

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

__all__ = [
    "DIRECT_MARGIN_DECADES",
    "MIN_STEP_DECADES",
    "MONOTONE_SHARE",
    "Field",
    "detect_field",
    "edge_sums",
]

_F32 = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]

MIN_STEP_DECADES = 0.06
"""A blade's edge: the log kerma steps up by at least this (× 1.15) across it, on average
over the field's lines (half of it in the first, whole-image pass)."""

MONOTONE_SHARE = 0.15
"""Beyond a blade the signal, from the panel's border towards the edge, never falls by more
than this share of its highest value (line means, smoothed)."""

QUIET_SHARE = 0.75
"""Beyond a blade no projected step into the field reaches this share of the blade's own
(the shade holds scatter falling off past the blade, and anatomy seen through the blades'
leakage, whose edges go both ways); beyond an edge of anatomy or of a wedge step, the
blade's own edge does."""

SHARP_SHARE = 0.6
"""A blade's projected step lies on a few pixels: within ±2 px of its peak at least this
share of it within ±12 px (see :func:`_sharp`)."""

FLOOR_SHARE = 0.05
"""The shaded side's profile is judged against at least this share of the level inside
(a blade without scatter leaves leakage and noise only)."""

DIRECT_MARGIN_DECADES = 0.15
"""Direct exposure: within this of the field's 99.5th percentile (transmission > 0.7)."""

FLOOR_BELOW_P90_DECADES = 3.0
"""Values below the 90th percentile minus this are raised to it before summing steps,
so that the noise of a fully shaded region (near zero signal) does not add up."""

_INSIDE = 8  # sampled lines just inside an edge, for its level

_STRIDE = 2  # sum every second line along the direction summed over

_SMOOTH_PX = 18  # the shaded side's profile is smoothed over this (a 40/cm grid's alias)

_WIDE = 12  # px either side of a step, for its sharpness

_MARGIN = 3  # px either side of a step that belong to it

_CANDIDATES = 64  # strongest projected steps tried per side


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
        The compiled summing kernel or its numpy oracle.

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
    whole = (0, half.shape[0], 0, half.shape[1])
    rough = _find_box(half, floor, whole, MIN_STEP_DECADES / 2, engine)
    box = (2 * rough[0], min(2 * rough[1], h), 2 * rough[2], min(2 * rough[3], w))
    top, bottom, left, right = _find_box(log, floor, box, MIN_STEP_DECADES, engine)
    inner = log[top:bottom:4, left:right:4]
    direct = float(np.percentile(inner, 99.5)) - DIRECT_MARGIN_DECADES
    return Field(top, bottom, left, right, (h, w), direct)


def _find_box(
    log: _F32, floor: float, box: tuple[int, int, int, int], min_step: float, engine: Engine
) -> tuple[int, int, int, int]:
    """Return the field's bounds in ``log``, summing steps over the lines of ``box``."""
    kerma = np.power(np.float32(10.0), log[::8, ::2])  # for the shaded side's profile
    col, row = edge_sums(log, floor, box, engine=engine)
    y0, y1, x0, x1 = box
    n_rows = len(range(y0, y1, _STRIDE))
    n_cols = len(range(x0, x1, _STRIDE))
    lines = kerma[y0 // 8 : (y1 + 7) // 8]
    left, right = _pair(lines, 2, col, n_rows * min_step)
    lines = kerma[:, x0 // 2 : (x1 + 1) // 2].T
    top, bottom = _pair(lines, 8, row, n_cols * min_step)
    return top, bottom, left, right


def edge_sums(
    log: _F32, floor: float, box: tuple[int, int, int, int], *, engine: Engine = "numba"
) -> tuple[_F64, _F64]:
    """Sum the steps across each column and row, over the lines of ``box``.

    Returns ``(col, row)``: for column x, the sum over the rows of ``box`` (every second
    one) of ``max(L, floor)`` at x+1 minus at x-1 (positive: rising to the right); for
    row y the same over the columns of ``box``, from y-1 to y+1. The first and last
    entries are 0.
    """
    h, w = log.shape
    col, row = np.zeros(w, np.float64), np.zeros(h, np.float64)
    y0, y1, x0, x1 = box
    if engine == "numpy":
        clipped = np.maximum(log, np.float32(floor))
        d = clipped[y0:y1:_STRIDE, 2:] - clipped[y0:y1:_STRIDE, :-2]
        col[1:-1] = np.cumsum(d.astype(np.float64), axis=0)[-1] if d.shape[0] else 0.0
        d = clipped[2:, x0:x1:_STRIDE] - clipped[:-2, x0:x1:_STRIDE]
        row[1:-1] = np.cumsum(d.astype(np.float64), axis=1)[:, -1] if d.shape[1] else 0.0
        return col, row
    _sum_kernel(log, np.float32(floor), y0, y1, x0, x1, col, row)
    return col, row


def _pair(lines: _F32, step: int, sums: _F64, needed: float) -> tuple[int, int]:
    """Return the first and last line inside the field along one axis (whole axis if none).

    ``lines`` holds the image along this axis sampled every ``step`` pixels; each side's
    edge is chosen by :func:`_edge`.
    """
    n = sums.size
    first = _edge(lines, step, sums, needed, rising=True)
    last = _edge(lines, step, -sums, needed, rising=False)
    first = 0 if first is None else first
    last = n if last is None else last
    if last - first < 8:  # not a field: blades crossing, or anatomy taken for a blade
        return 0, n
    return first, last


def _edge(lines: _F32, step: int, sums: _F64, needed: float, *, rising: bool) -> int | None:
    """Return the blade edge of one side, or None.

    Of the projected steps (``sums``, positive into the field) that reach ``needed``, the
    strongest whose shaded side is a blade's: beyond the edge, from the panel's border
    towards it, the profile of line means (linear air kerma, smoothed over
    :data:`_SMOOTH_PX`) never falls by more than :data:`MONOTONE_SHARE` of its highest
    value, and ends below the level just inside the edge.
    """
    for peak in np.argsort(-sums, kind="stable")[:_CANDIDATES]:
        if sums[peak] < needed:
            return None
        if not _sharp(sums, int(peak)):
            continue  # spread over many lines: a slanted edge, not a blade
        edge = _position(sums, int(peak))
        shade = sums[: max(edge - _MARGIN, 0)] if rising else sums[edge + _MARGIN :]
        if shade.size and float(shade.max()) > QUIET_SHARE * float(sums[peak]):
            continue  # a step the same way beyond it, as large: a blade further out
        cut = edge // step if rising else (edge + step - 1) // step
        beyond = lines[:, :cut] if rising else lines[:, cut:][:, ::-1]
        inside = lines[:, cut : cut + _INSIDE] if rising else lines[:, max(cut - _INSIDE, 0) : cut]
        if beyond.shape[1] < 2 or inside.size == 0:
            return edge
        profile = beyond.mean(axis=0, dtype=np.float64)
        k = max(1, _SMOOTH_PX // step)
        if profile.size > k:
            profile = np.convolve(profile, np.ones(k) / k, mode="valid")
        fall = float((np.maximum.accumulate(profile) - profile).max())
        level = float(inside.mean())
        scale = max(float(profile.max()), FLOOR_SHARE * level)
        if fall < MONOTONE_SHARE * scale and profile[-1] < level:
            return edge
    return None


def _sharp(sums: _F64, peak: int) -> bool:
    """Return True when the step around ``peak`` is a straight line along the axis.

    An axis-aligned blade's step falls on the same one or two pixels of every line: the
    projection within ±2 px of its peak holds at least :data:`SHARP_SHARE` of the signed
    projection within ±:data:`_WIDE` px. A slanted edge (a tilted plate, the QC edge
    device at 1.5-3 degrees) spreads its step over many pixels.
    """
    near = float(sums[max(peak - 2, 0) : peak + 3].sum())
    wide = float(sums[max(peak - _WIDE, 0) : peak + _WIDE + 1].sum())
    return near >= SHARP_SHARE * wide


def _position(sums: _F64, peak: int) -> int:
    """Return the edge from the centroid of the projected step around its peak.

    The sum at x measures the step between x-1 and x+1: a sharp edge between x0-1 and
    x0 counts at x0-1 and x0, so the edge is at the centroid plus one half.
    """
    lo, hi = max(peak - 2, 0), min(peak + 3, sums.size)
    weights = np.clip(sums[lo:hi], 0.0, None)
    centre = float((weights * np.arange(lo, hi)).sum() / weights.sum())
    return int(np.floor(centre + 1.0))


@numba.njit(nogil=True, cache=True, parallel=True)
def _sum_kernel(  # noqa: PLR0917  # pragma: no cover - compiled
    log: _F32,
    floor: np.float32,
    y0: int,
    y1: int,
    x0: int,
    x1: int,
    col: _F64,
    row: _F64,
) -> None:
    h, w = log.shape
    block = 128  # columns per task: each task owns its sums, no partial sums
    for b in numba.prange((w + block - 1) // block):
        xa = max(b * block, 1)
        xb = min((b + 1) * block, w - 1)
        for y in range(y0, y1, 2):
            for x in range(xa, xb):
                d = max(log[y, x + 1], floor) - max(log[y, x - 1], floor)
                col[x] += np.float64(d)
    for y in numba.prange(1, h - 1):
        total = 0.0
        for x in range(x0, x1, 2):
            d = max(log[y + 1, x], floor) - max(log[y - 1, x], floor)
            total += np.float64(d)
        row[y] = total

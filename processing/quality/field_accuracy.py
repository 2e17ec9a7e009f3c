"""Accuracy of a detected exposure field against the true one, edge by edge, in pixels.

Issue 14 asks collimation detection to place every edge within 2 pixels of the truth
on phantoms with random field sizes and positions. Fields are given as
``(left, top, right, bottom)`` in pixel coordinates (the field covers
``left <= x < right``, ``top <= y < bottom``; a true edge may be fractional, where a
blade crosses a pixel). Plain arithmetic, no arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["FieldAccuracy", "field_accuracy"]

_Edges = tuple[float, float, float, float]


@dataclass(frozen=True)
class FieldAccuracy:
    """Signed errors (detected − true) of each edge, pixels.

    Attributes
    ----------
    left, top, right, bottom : float
        Positive: the detected edge lies right of (below) the true one.
    """

    left: float
    top: float
    right: float
    bottom: float

    @property
    def max_abs_px(self) -> float:
        """The largest error of the four edges, pixels."""
        return max(abs(self.left), abs(self.top), abs(self.right), abs(self.bottom))

    def within(self, tolerance_px: float) -> bool:
        """Return True when every edge is within ``tolerance_px`` of the truth."""
        return self.max_abs_px <= tolerance_px


def field_accuracy(detected: _Edges, true: _Edges) -> FieldAccuracy:
    """Compare a detected field with the true one (both ``(left, top, right, bottom)``).

    Raises
    ------
    ValueError
        A field whose edges are not finite or not ordered (left < right, top < bottom).
    """
    for name, f in (("detected", detected), ("true", true)):
        if not all(math.isfinite(v) for v in f) or not (f[0] < f[2] and f[1] < f[3]):
            raise ValueError(f"{name} field {f} is not (left, top, right, bottom) with left<right")
    d, t = detected, true
    return FieldAccuracy(d[0] - t[0], d[1] - t[1], d[2] - t[2], d[3] - t[3])

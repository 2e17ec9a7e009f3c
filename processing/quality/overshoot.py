"""Overshoot and halo next to strong edges (collimation blades, bone), as % of the step.

Edge enhancement and multi-scale contrast processing (unsharp masking, Laplacian-pyramid
gain) ring at a strong step: the bright side rises above its plateau next to the edge
and the dark side dips below its own (a halo; Flynn, AAPM 2006 course *Digital Image
Processing in Radiography*; Prokop, Neitzel & Schaefer-Prokop, J Thorac Imaging 18:148,
2003, on the halo artefacts of unsharp masking in chest radiography). The
measure takes a profile across the edge, the two plateaus as medians far from the edge,
and the largest excursion beyond each plateau within a window next to the edge::

    overshoot % = 100 · max(max(high side) − plateau_high, plateau_low − min(low side))
                  / |plateau_high − plateau_low|

A linear (unprocessed) edge, blurred or not, gives 0. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Overshoot", "field_edge_overshoot", "overshoot"]


@dataclass(frozen=True)
class Overshoot:
    """Excursions beyond the plateaus next to one edge, % of the step.

    Attributes
    ----------
    high_percent : float
        How far the bright side rises above its plateau next to the edge (0 if not).
    low_percent : float
        How far the dark side dips below its plateau next to the edge (0 if not).
    step : float
        ``plateau_high − plateau_low``, image units.
    """

    high_percent: float
    low_percent: float
    step: float

    @property
    def percent(self) -> float:
        """The larger of the two excursions, % of the step."""
        return max(self.high_percent, self.low_percent)


def overshoot(
    profile: npt.ArrayLike, edge_index: int, window_px: int, plateau_px: int | None = None
) -> Overshoot:
    """Measure the overshoot of a 1-D profile across a step edge.

    Parameters
    ----------
    profile : array_like
        Values along a line across the edge (averaged along the edge, ideally).
    edge_index : int
        The edge lies between ``profile[edge_index - 1]`` and ``profile[edge_index]``.
    window_px : int
        How far from the edge overshoot is sought, each side (pixels); the plateaus are
        measured beyond it.
    plateau_px : int, optional
        Length of each plateau (default: ``window_px``).

    Raises
    ------
    ValueError
        A profile too short for the window and plateaus either side, or a flat profile.
    """
    p = np.asarray(profile, dtype=np.float64)
    plateau = window_px if plateau_px is None else plateau_px
    if window_px < 1 or plateau < 1:
        raise ValueError(f"window_px and plateau_px must be at least 1 ({window_px}, {plateau})")
    if edge_index - window_px - plateau < 0 or edge_index + window_px + plateau > p.size:
        raise ValueError(
            f"profile of {p.size} points too short for an edge at {edge_index} with "
            f"{window_px} px windows and {plateau} px plateaus either side"
        )
    left = p[edge_index - window_px : edge_index]
    right = p[edge_index : edge_index + window_px]
    left_plateau = float(np.median(p[edge_index - window_px - plateau : edge_index - window_px]))
    right_plateau = float(np.median(p[edge_index + window_px : edge_index + window_px + plateau]))
    step = abs(right_plateau - left_plateau)
    if step == 0:
        raise ValueError("no step: the plateaus either side of the edge are equal")
    if right_plateau > left_plateau:
        high, low, high_plateau, low_plateau = right, left, right_plateau, left_plateau
    else:
        high, low, high_plateau, low_plateau = left, right, left_plateau, right_plateau
    over = max(0.0, float(high.max()) - high_plateau)
    under = max(0.0, low_plateau - float(low.min()))
    return Overshoot(100.0 * over / step, 100.0 * under / step, right_plateau - left_plateau)


def field_edge_overshoot(
    image: npt.NDArray[np.generic],
    field: tuple[int, int, int, int],
    window_px: int,
    plateau_px: int | None = None,
) -> dict[str, Overshoot]:
    """Overshoot across each collimation edge of a field (profiles averaged along it).

    Parameters
    ----------
    image : numpy.ndarray
        2-D image.
    field : tuple of int
        ``(left, top, right, bottom)`` in pixels: the field is ``top <= y < bottom``,
        ``left <= x < right`` (the truth's edges, rounded).
    window_px, plateau_px : int
        As for :func:`overshoot`.

    Returns
    -------
    dict
        ``{"left", "top", "right", "bottom"}`` to :class:`Overshoot`; an edge without room
        for its window and plateaus (e.g. at the image border) is left out.
    """
    left, top, right, bottom = field
    img = np.asarray(image, dtype=np.float64)
    # Average along the middle half of each edge, away from the field's corners.
    rows = slice(top + (bottom - top) // 4, bottom - (bottom - top) // 4)
    cols = slice(left + (right - left) // 4, right - (right - left) // 4)
    profiles = {
        "left": (img[rows, :].mean(axis=0), left),
        "right": (img[rows, :].mean(axis=0), right),
        "top": (img[:, cols].mean(axis=1), top),
        "bottom": (img[:, cols].mean(axis=1), bottom),
    }
    out = {}
    for name, (profile, edge) in profiles.items():
        try:
            out[name] = overshoot(profile, edge, window_px, plateau_px)
        except ValueError:
            continue
    return out

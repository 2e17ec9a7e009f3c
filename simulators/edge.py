"""Slanted-edge test objects for presampling-MTF measurement (IEC 62220-1-1:2015, 5.5).

The transmission of a pixel is the part of its area the object leaves open, computed
exactly enough (16 × 16 sub-samples in the pixels an edge crosses) that the object adds
only the pixel aperture to the MTF a measurement sees: together with the panel's light
spread that is :func:`~panelgate.simulators.panel.presampling_mtf_truth`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = ["edge_plate", "slanted_edge"]

_F32 = npt.NDArray[np.float32]
_SUB = 16
_Inside = Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], npt.NDArray[np.bool_]]


def slanted_edge(height: int, width: int, *, angle_deg: float = 2.0, opaque: float = 0.0) -> _F32:
    """Make a straight edge through the centre, tilted ``angle_deg`` from the columns.

    The left side transmits ``opaque`` (0: a thick tungsten plate), the right side 1.

    Returns
    -------
    numpy.ndarray
        float32 transmission map of shape (height, width).
    """
    _check(height, width, angle_deg, opaque)
    t = math.tan(math.radians(angle_deg))

    def open_part(
        ys: npt.NDArray[np.float64], xs: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]:
        result: npt.NDArray[np.bool_] = xs - width / 2 > t * (ys - height / 2)
        return result

    return _render(height, width, open_part, opaque)


def edge_plate(
    height: int, width: int, *, angle_deg: float = 2.0, side_px: int | None = None,
    opaque: float = 0.0,
) -> _F32:  # fmt: skip
    """Make a square plate at the centre, rotated ``angle_deg``: a vertical and a horizontal edge.

    Like the edge test device of IEC 62220-1-1 measured twice (turned by 90°), in one
    exposure: its left side gives the MTF along x, its top side the MTF along y.

    Parameters
    ----------
    height, width : int
        Size of the map in pixels (at least 32 × 32).
    angle_deg : float
        Rotation of the plate (1.5° to 3° for a measurement).
    side_px : int, optional
        Side of the plate in pixels; half the smaller side of the map by default.
    opaque : float
        Transmission of the plate (0..1).
    """
    _check(height, width, angle_deg, opaque)
    side = min(height, width) // 2 if side_px is None else side_px
    if not 16 <= side < min(height, width):
        raise ValueError(f"side_px must be 16..{min(height, width) - 1}, got {side}")
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))

    def open_part(
        ys: npt.NDArray[np.float64], xs: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]:
        u = (xs - width / 2) * c + (ys - height / 2) * s
        v = -(xs - width / 2) * s + (ys - height / 2) * c
        result: npt.NDArray[np.bool_] = (np.abs(u) > side / 2) | (np.abs(v) > side / 2)
        return result

    return _render(height, width, open_part, opaque)


def _check(height: int, width: int, angle_deg: float, opaque: float) -> None:
    if height < 32 or width < 32:
        raise ValueError(f"edge object needs at least 32x32 pixels, got {width}x{height}")
    if not -45.0 < angle_deg < 45.0 or not 0.0 <= opaque <= 1.0:
        raise ValueError(
            f"angle_deg must be in (-45, 45) and opaque in [0, 1]; got {angle_deg}, {opaque}"
        )


def _render(height: int, width: int, open_part: _Inside, opaque: float) -> _F32:
    """Open fraction of each pixel: its centre, then 16 × 16 sub-samples near an edge."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    centre = open_part(yy + 0.5, xx + 0.5)
    edge = np.zeros_like(centre)
    edge[:, 1:] |= centre[:, 1:] != centre[:, :-1]
    edge[:, :-1] |= centre[:, 1:] != centre[:, :-1]
    edge[1:, :] |= centre[1:, :] != centre[:-1, :]
    edge[:-1, :] |= centre[1:, :] != centre[:-1, :]
    grown = edge.copy()  # a pixel whose corner the edge cuts may keep its centre's side
    grown[1:, :] |= edge[:-1, :]
    grown[:-1, :] |= edge[1:, :]
    grown[:, 1:] |= edge[:, :-1]
    grown[:, :-1] |= edge[:, 1:]
    fraction = centre.astype(np.float64)
    ys, xs = np.nonzero(grown)
    sub = (np.arange(_SUB) + 0.5) / _SUB
    sy = ys[:, None, None] + sub[None, :, None]
    sx = xs[:, None, None] + sub[None, None, :]
    fraction[ys, xs] = open_part(sy, sx).mean(axis=(1, 2))
    t: _F32 = (opaque + (1.0 - opaque) * fraction).astype(np.float32)
    return t

"""Path lengths of the beam through simple solids: the line integrals of the phantoms.

The beam runs along z, perpendicular to the panel (a parallel-beam projection; the
divergence of a 1.8 m source distance is ignored). A :class:`Grid` maps pixel centres to
millimetres in the phantom's plane; each function returns the chord length (mm) of the
ray through every pixel centre within the solid's bounding box, so that a phantom built
from dozens of solids touches only the pixels each one covers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Grid", "Patch", "cylinder_chord", "ellipsoid_chord", "tube_chord"]

_F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Patch:
    """Chord lengths (mm) over the pixel box ``rows`` × ``cols`` of a map."""

    rows: slice
    cols: slice
    chord_mm: _F32

    def add_to(self, target: _F32, weight: float = 1.0) -> None:
        """Add ``weight`` times the chord lengths into ``target`` in place."""
        target[self.rows, self.cols] += np.float32(weight) * self.chord_mm


@dataclass(frozen=True)
class Grid:
    """Pixel centres in millimetres: x to the right, y down, origin at the map's centre.

    Parameters
    ----------
    height, width : int
        Map size in pixels.
    mm_per_px : float
        Size of a pixel in the phantom's plane, mm.
    """

    height: int
    width: int
    mm_per_px: float

    def x_mm(self, cols: slice) -> _F32:
        """Return the x of the centres of ``cols`` (a row vector), mm."""
        idx = np.arange(cols.start, cols.stop, dtype=np.float32)
        out: _F32 = ((idx + np.float32(0.5 - self.width / 2)) * np.float32(self.mm_per_px))[None, :]
        return out

    def y_mm(self, rows: slice) -> _F32:
        """Return the y of the centres of ``rows`` (a column vector), mm."""
        idx = np.arange(rows.start, rows.stop, dtype=np.float32)
        out: _F32 = ((idx + np.float32(0.5 - self.height / 2)) * np.float32(self.mm_per_px))[
            :, None
        ]
        return out

    def col(self, x_mm: float) -> float:
        """Return the pixel coordinate of ``x_mm`` (pixel i spans [i, i+1))."""
        return x_mm / self.mm_per_px + self.width / 2

    def row(self, y_mm: float) -> float:
        """Return the pixel coordinate of ``y_mm``."""
        return y_mm / self.mm_per_px + self.height / 2

    def box(self, x0_mm: float, y0_mm: float, x1_mm: float, y1_mm: float) -> tuple[slice, slice]:
        """Return the rows and columns whose centres may lie in a box, clipped to the map."""
        r0 = max(0, int(np.floor(self.row(y0_mm))) - 1)
        r1 = min(self.height, int(np.ceil(self.row(y1_mm))) + 1)
        c0 = max(0, int(np.floor(self.col(x0_mm))) - 1)
        c1 = min(self.width, int(np.ceil(self.col(x1_mm))) + 1)
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))


def ellipsoid_chord(
    grid: Grid, centre_mm: tuple[float, float], semi_axes_mm: tuple[float, float, float]
) -> Patch:
    """Chord through an ellipsoid with semi-axes (a, b, c) along (x, y, z), mm.

    ``L = 2c · sqrt(1 − (x/a)² − (y/b)²)`` inside the ellipse of its outline, 0 outside.
    """
    (cx, cy), (a, b, c) = centre_mm, semi_axes_mm
    rows, cols = grid.box(cx - a, cy - b, cx + a, cy + b)
    u = (grid.x_mm(cols) - cx) / a
    v = (grid.y_mm(rows) - cy) / b
    inside = np.clip(1.0 - u * u - v * v, 0.0, None)
    return Patch(rows, cols, (2.0 * c * np.sqrt(inside)).astype(np.float32))


def cylinder_chord(
    grid: Grid, centre_x_mm: float, semi_x_mm: float, semi_z_mm: float, rows: slice
) -> Patch:
    """Chord through an elliptic cylinder whose axis runs along y (a trunk, a limb).

    ``L = 2c · sqrt(1 − (x/a)²)`` for the rows ``rows`` of the map.
    """
    cx, a, c = centre_x_mm, semi_x_mm, semi_z_mm
    _, cols = grid.box(cx - a, 0.0, cx + a, 0.0)
    u = (grid.x_mm(cols) - cx) / a
    line = (2.0 * c * np.sqrt(np.clip(1.0 - u * u, 0.0, None))).astype(np.float32)
    height = rows.stop - rows.start
    return Patch(rows, cols, np.repeat(line, height, axis=0))


def tube_chord(
    grid: Grid,
    points_mm: Sequence[tuple[float, float]],
    outer_radius_mm: float,
    inner_radius_mm: float = 0.0,
) -> Patch:
    """Chord through a tube (a bone: cortical shell around marrow) along a polyline.

    The tube's axis lies in the phantom's plane; a ray at distance d from the axis crosses
    ``2·sqrt(R² − d²) − 2·sqrt(r² − d²)`` mm of the shell (outer radius R, inner r), so a
    bone's edges show brighter than its middle as on a radiograph. d is the distance to
    the nearest segment of the polyline; the tube ends are round.
    """
    pts = np.asarray(points_mm, dtype=np.float64)
    r_out, r_in = outer_radius_mm, inner_radius_mm
    rows, cols = grid.box(
        pts[:, 0].min() - r_out, pts[:, 1].min() - r_out,
        pts[:, 0].max() + r_out, pts[:, 1].max() + r_out,
    )  # fmt: skip
    x, y = grid.x_mm(cols), grid.y_mm(rows)
    d2 = np.full((rows.stop - rows.start, cols.stop - cols.start), np.inf, dtype=np.float32)
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        dx, dy = x1 - x0, y1 - y0
        length2 = max(dx * dx + dy * dy, 1e-12)
        t = np.clip(((x - x0) * dx + (y - y0) * dy) / length2, 0.0, 1.0)
        np.minimum(d2, (x - x0 - t * dx) ** 2 + (y - y0 - t * dy) ** 2, out=d2)
    chord = 2.0 * np.sqrt(np.clip(r_out * r_out - d2, 0.0, None))
    if r_in > 0:
        chord -= 2.0 * np.sqrt(np.clip(r_in * r_in - d2, 0.0, None))
    return Patch(rows, cols, chord.astype(np.float32))

"""An adult hand, postero-anterior (PA), fingers up: soft tissue with the hand's bones.

A nominal 240 mm field (:data:`FIELD_OF_VIEW_MM`) scaled to fill the panel. Solids: the
forearm (an elliptic cylinder), the palm (an ellipsoid 30 mm thick), four fingers and the
thumb (soft-tissue tubes, 18-20 mm across); in them, of cortical bone with marrow
(tubes): five metacarpals, fourteen phalanges separated by 2 mm joint spaces, radius and
ulna; eight carpal bones as small trabecular ellipsoids (50 % cortical-equivalent).
Overlapping soft tissue counts once (the thickest solid at each pixel).
"""

from __future__ import annotations

import itertools

import numpy as np

from .materials import Material
from .scene import Body
from .shapes import Grid, ellipsoid_chord, tube_chord

__all__ = ["FIELD_OF_VIEW_MM", "hand_body"]

FIELD_OF_VIEW_MM = 240.0
"""The hand fills a 240 mm square on the panel's shorter side."""

_FINGERS = (  # metacarpal base x, knuckle (x, y), finger length (mm), bone radius (mm)
    (-18.0, (-33.0, -18.0), 62.0, 3.6),
    (-6.0, (-11.0, -27.0), 76.0, 4.0),
    (6.0, (11.0, -29.0), 82.0, 4.2),
    (18.0, (32.0, -24.0), 74.0, 4.0),
)
_THUMB = ((24.0, 62.0), (52.0, 26.0), (70.0, 2.0), (86.0, -20.0))


def _along(p0: tuple[float, float], p1: tuple[float, float], t: float) -> tuple[float, float]:
    return (p0[0] + t * (p1[0] - p0[0]), p0[1] + t * (p1[1] - p0[1]))


def _bones(grid: Grid, bone: np.ndarray) -> None:
    for base_x, knuckle, length, radius in _FINGERS:
        tip = (knuckle[0] * 1.15, knuckle[1] - length)
        tube_chord(grid, [(base_x, 62.0), knuckle], radius + 0.6, radius - 1.6).add_to(bone)
        start = 0.03
        for share, scale in ((0.45, 1.0), (0.30, 0.85), (0.20, 0.75)):
            p0, p1 = _along(knuckle, tip, start), _along(knuckle, tip, start + share)
            tube_chord(grid, [p0, p1], radius * scale, radius * scale * 0.55).add_to(bone)
            start += share + 2.0 / length
    for (p0, p1), r in zip(itertools.pairwise(_THUMB), (4.6, 4.2, 3.6), strict=True):
        tube_chord(grid, [_along(p0, p1, 0.05), _along(p0, p1, 0.95)], r, r * 0.55).add_to(bone)
    for i, (x, y) in enumerate(
        [(-20.0, 70.0), (-7.0, 68.0), (7.0, 67.0), (20.0, 70.0),
         (-16.0, 86.0), (-3.0, 84.0), (11.0, 84.0), (24.0, 82.0)]
    ):  # fmt: skip
        ellipsoid_chord(grid, (x, y), (7.5 + i % 2, 7.0, 8.0)).add_to(bone, 0.5)
    tube_chord(grid, [(11.0, 100.0), (13.0, 240.0)], 8.0, 6.5).add_to(bone)
    tube_chord(grid, [(-15.0, 102.0), (-17.0, 240.0)], 6.0, 4.5).add_to(bone)


def hand_body(height: int, width: int) -> Body:
    """Build the hand PA's path-length maps for a panel of ``height`` × ``width`` pixels.

    Raises
    ------
    ValueError
        A panel smaller than 32 × 32 pixels.
    """
    if height < 32 or width < 32:
        raise ValueError(f"phantom needs at least 32x32 pixels, got {width}x{height}")
    grid = Grid(height, width, FIELD_OF_VIEW_MM / min(height, width))
    body = Body("hand", height, width, grid.mm_per_px)
    soft = np.zeros((height, width), dtype=np.float32)
    solids = [
        ellipsoid_chord(grid, (2.0, 22.0), (52.0, 60.0, 14.0)),
        ellipsoid_chord(grid, (0.0, 180.0), (34.0, 110.0, 24.0)),
        tube_chord(grid, [_THUMB[0], _THUMB[-1]], 10.5),
    ]
    for _, knuckle, length, _ in _FINGERS:
        tip = (knuckle[0] * 1.15, knuckle[1] - length)
        solids.append(tube_chord(grid, [(knuckle[0], knuckle[1] + 10.0), tip], 9.0))
    for patch in solids:
        region = soft[patch.rows, patch.cols]
        np.maximum(region, patch.chord_mm, out=region)
    bone = np.zeros_like(soft)
    _bones(grid, bone)
    bone *= soft > 0
    body.paths_mm[Material.BONE] = bone
    body.paths_mm[Material.SOFT_TISSUE] = np.clip(soft - bone, 0.0, None)
    return body

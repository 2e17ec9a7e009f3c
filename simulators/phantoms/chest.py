"""An adult chest, postero-anterior (PA), built from solids of tissue, lung and bone.

Sizes are those of an average adult (trunk 330 mm wide and 220 mm deep at the lungs), in
a nominal 430 mm field scaled to fill the panel (:data:`FIELD_OF_VIEW_MM`); the image is
seen from the tube, the patient's right on the image's left. Solids:

- trunk: an elliptic cylinder of soft tissue, narrowing above the shoulders to the neck;
- lungs: two ellipsoids of inflated lung, their bases cut by the diaphragm domes (the
  right dome higher), their medial sides displaced by the heart;
- heart: an ellipsoid of soft tissue left of the midline (the image's right);
- spine: vertebral bodies (ellipsoids, trabecular: 25 % cortical-equivalent) with discs;
- ribs: ten pairs of curved tubes of cortical bone (shell 2 mm around marrow), their
  posterior arcs from the spine and, fainter (half weight), their anterior arcs;
- clavicles: two S-shaped tubes;
- five nodules: spheres of soft tissue of 5, 8, 10, 15 and 20 mm in the lungs, whose
  centre, size and contrast the scene returns as truth.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .materials import Material
from .scene import Body, _NoduleShape
from .shapes import Grid, ellipsoid_chord, tube_chord

__all__ = ["FIELD_OF_VIEW_MM", "NODULES_MM", "chest_body"]

FIELD_OF_VIEW_MM = 430.0
"""The chest fills a 430 mm square on the panel's shorter side (a 43 cm panel: 1:1)."""

NODULES_MM: tuple[tuple[float, float, float], ...] = (
    (-95.0, -70.0, 5.0),
    (-70.0, 40.0, 8.0),
    (85.0, -95.0, 10.0),
    (115.0, 0.0, 15.0),
    (-120.0, -20.0, 20.0),
)
"""Nodules: centre x, y and diameter in mm (x right, y down, origin at the field centre)."""

_LUNGS = ((-80.0, -15.0, 72.0), (80.0, -15.0, 85.0))  # centre x, y; top of the dome's y


def _trunk(grid: Grid) -> np.ndarray:
    rows = slice(0, grid.height)
    y = grid.y_mm(rows)
    x = grid.x_mm(slice(0, grid.width))
    s = np.clip((-140.0 - y) / 60.0, 0.0, 1.0)
    shoulder = s * s * (3.0 - 2.0 * s)  # 0 below the shoulders, 1 at the neck (smoothstep)
    waist = np.clip((y - 60.0) / 150.0, 0.0, 1.0)
    a = 170.0 - 115.0 * shoulder - 15.0 * waist
    c = 110.0 - 55.0 * shoulder
    chord: npt.NDArray[np.float32]
    chord = (2.0 * c * np.sqrt(np.clip(1.0 - (x / a) ** 2, 0.0, None))).astype(np.float32)
    return chord


def _lungs(grid: Grid) -> np.ndarray:
    lung = np.zeros((grid.height, grid.width), dtype=np.float32)
    for cx, cy, dome_y in _LUNGS:
        patch = ellipsoid_chord(grid, (cx, cy), (62.0, 125.0, 85.0))
        x, y = grid.x_mm(patch.cols), grid.y_mm(patch.rows)
        dome = dome_y + 0.01 * (x - cx) ** 2  # the diaphragm's dome under this lung
        above = np.clip((dome - y) / 8.0, 0.0, 1.0)
        lung[patch.rows, patch.cols] += patch.chord_mm * above.astype(np.float32)
    heart = ellipsoid_chord(grid, (30.0, 45.0), (75.0, 65.0, 65.0))
    region = lung[heart.rows, heart.cols]
    np.maximum(region - heart.chord_mm, 0.0, out=region)
    return lung


def _bones(grid: Grid) -> np.ndarray:
    bone = np.zeros((grid.height, grid.width), dtype=np.float32)
    half_y = grid.height * grid.mm_per_px / 2
    y = -half_y
    while y < half_y:  # vertebral bodies 27 mm tall, discs 4 mm
        ellipsoid_chord(grid, (0.0, y + 13.5), (22.0, 13.5, 16.0)).add_to(bone, 0.25)
        y += 31.0
    for side in (-1.0, 1.0):
        for i in range(10):
            y0 = -150.0 + 25.0 * i
            reach = min(150.0, 95.0 + 7.0 * i)
            xs = np.array([14.0, 35.0, 60.0, 0.75, 0.92, 1.0])
            xs[3:] *= reach
            ys = y0 + np.array([0.0, -7.0, -9.0, -2.0, 14.0, 36.0])
            tube_chord(grid, list(zip(side * xs, ys, strict=True)), 5.5, 3.5).add_to(bone)
            front = [(reach, y0 + 36.0), (0.8 * reach, y0 + 62.0), (0.45 * reach, y0 + 80.0)]
            tube_chord(grid, [(side * x, y) for x, y in front], 4.5, 3.0).add_to(bone, 0.5)
        clavicle = [(20.0, -165.0), (70.0, -172.0), (120.0, -186.0), (152.0, -178.0)]
        tube_chord(grid, [(side * x, y) for x, y in clavicle], 7.0, 4.0).add_to(bone)
    return bone


def chest_body(height: int, width: int) -> Body:
    """Build the chest PA's path-length maps for a panel of ``height`` × ``width`` pixels.

    Raises
    ------
    ValueError
        A panel smaller than 32 × 32 pixels.
    """
    if height < 32 or width < 32:
        raise ValueError(f"phantom needs at least 32x32 pixels, got {width}x{height}")
    grid = Grid(height, width, FIELD_OF_VIEW_MM / min(height, width))
    body = Body("chest", height, width, grid.mm_per_px)
    trunk = _trunk(grid)
    lung = _lungs(grid)
    nodule_mm = np.zeros_like(lung)
    shapes = []
    for x, y, d in NODULES_MM:
        ellipsoid_chord(grid, (x, y), (d / 2, d / 2, d / 2)).add_to(nodule_mm)
        shapes.append(_NoduleShape(grid.col(x), grid.row(y), d, d / grid.mm_per_px))
    lung -= nodule_mm
    bone = _bones(grid) * (trunk > 0)
    body.paths_mm[Material.LUNG] = np.clip(lung, 0.0, None)
    body.paths_mm[Material.BONE] = bone
    body.paths_mm[Material.SOFT_TISSUE] = np.clip(trunk - lung - bone, 0.0, None)
    body.nodule_mm = nodule_mm
    body.nodules = tuple(shapes)
    return body

"""Test objects: the aluminium step wedge with lead bar groups, and the slanted edge.

Step wedge (upper half): ten aluminium steps whose transmissions at the reference beam
(:data:`REFERENCE_KV`, the RQA5 tube voltage of IEC 61267) fall from 0.9 to 0.05 in a
geometric series, as the step wedges of detector constancy checks; at other tube voltages
they follow aluminium's attenuation. Bar groups (lower half): lead bars transmitting 5 % at
the reference beam, at 0.5 to 3.0 line pairs per mm, five bars per group.

Slanted edge (IEC 62220-1-1): a 1 mm tungsten plate whose edge crosses the panel's centre
tilted :data:`EDGE_ANGLE_DEG` from the columns; the plate covers the right side. A pixel
the edge crosses transmits in proportion to its open area (an ideal edge sampled by square
pixels: the presampling MTF of the panel is all that blurs it).
"""

from __future__ import annotations

import math

import numpy as np

from .materials import Material, mu_per_mm
from .scene import Body, Edge

__all__ = ["EDGE_ANGLE_DEG", "EDGE_PLATE_MM", "REFERENCE_KV", "edge_body", "wedge_body"]

REFERENCE_KV = 70.0
"""Tube voltage at which the wedge's steps have their nominal transmissions (RQA5)."""

EDGE_ANGLE_DEG = 2.0
"""Tilt of the slanted edge from the columns, degrees (IEC 62220-1-1: 1.5-3°)."""

EDGE_PLATE_MM = 1.0
"""Thickness of the tungsten edge plate, mm (IEC 62220-1-1 asks for 1 mm)."""

_STEP_TRANSMISSIONS = np.geomspace(0.9, 0.05, 10)
_BAR_TRANSMISSION = 0.05


def _check(height: int, width: int) -> None:
    if height < 32 or width < 32:
        raise ValueError(f"phantom needs at least 32x32 pixels, got {width}x{height}")


def wedge_body(height: int, width: int, pixel_pitch_mm: float) -> Body:
    """Build the step wedge and bar groups for a panel (layout: the module docstring).

    Raises
    ------
    ValueError
        A panel smaller than 32 × 32 pixels.
    """
    _check(height, width)
    body = Body("wedge", height, width, pixel_pitch_mm)
    al = body.path(Material.ALUMINIUM)
    lead = body.path(Material.LEAD)
    margin_y, margin_x = height // 16, width // 16
    wedge_top, wedge_bottom = margin_y, height // 2 - margin_y // 2
    edges = np.linspace(margin_x, width - margin_x, _STEP_TRANSMISSIONS.size + 1).astype(int)
    mu_al = mu_per_mm(Material.ALUMINIUM, REFERENCE_KV)
    steps = []
    for t, x0, x1 in zip(_STEP_TRANSMISSIONS, edges[:-1], edges[1:], strict=True):
        thickness = -math.log(float(t)) / mu_al
        al[wedge_top:wedge_bottom, x0:x1] = thickness
        steps.append(((wedge_top, wedge_bottom), (int(x0), int(x1)), thickness))
    body.wedge_steps = tuple(steps)
    bar_mm = -math.log(_BAR_TRANSMISSION) / mu_per_mm(Material.LEAD, REFERENCE_KV)
    bar_top, bar_bottom = height // 2 + margin_y // 2, height - margin_y
    x = margin_x
    for lp_per_mm in (0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0):
        bar_px = max(1, round(1.0 / (2.0 * lp_per_mm * pixel_pitch_mm)))
        if x + 10 * bar_px > width - margin_x:
            break
        for bar in range(5):
            x0 = x + 2 * bar * bar_px
            lead[bar_top:bar_bottom, x0 : x0 + bar_px] = bar_mm
        x += 10 * bar_px + 4 * bar_px + 8
    return body


def edge_body(height: int, width: int, pixel_pitch_mm: float) -> Body:
    """Build the slanted tungsten edge for a panel (see the module docstring).

    Raises
    ------
    ValueError
        A panel smaller than 32 × 32 pixels.
    """
    _check(height, width)
    body = Body("edge", height, width, pixel_pitch_mm)
    cx, cy = width / 2, height / 2
    slope = math.tan(math.radians(EDGE_ANGLE_DEG))
    rows = np.arange(height, dtype=np.float64)[:, None] + 0.5
    cols = np.arange(width, dtype=np.float64)[None, :]
    edge_x = cx + (rows - cy) * slope  # where the edge crosses each row's centre
    covered = np.clip(cols + 1.0 - edge_x, 0.0, 1.0)  # share of the pixel behind the plate
    body.plate = (Material.TUNGSTEN, EDGE_PLATE_MM, covered.astype(np.float32))
    body.edge = Edge(EDGE_ANGLE_DEG, cx, cy, f"tungsten {EDGE_PLATE_MM:g} mm", 0.0)
    return body

"""The test objects of the first simulator, kept by their old names (fixed maps at 70 kV).

:mod:`panelgate.simulators.phantoms` computes phantoms from attenuation and renders them
at each beam's tube voltage; these functions return its scenes at the reference beam
(:data:`~panelgate.simulators.phantoms.REFERENCE_KV`, primary only for the chest, as the
old drawn chest had no scatter), for code that places a fixed transmission map.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .phantoms import REFERENCE_KV, Placement, render

__all__ = ["chest", "flat_field", "step_wedge_line_pairs"]

_Map = npt.NDArray[np.float32]


def flat_field(height: int, width: int) -> _Map:
    """Open beam: every pixel sees the full air kerma."""
    return np.ones((height, width), dtype=np.float32)


def step_wedge_line_pairs(height: int, width: int, pixel_pitch_mm: float) -> _Map:
    """Step wedge (ten aluminium steps, 0.9 to 0.05) over lead bar groups, at 70 kV.

    Raises
    ------
    ValueError
        A map smaller than 32 × 32 pixels.
    """
    return render(Placement("wedge"), height, width, pixel_pitch_mm, kv=REFERENCE_KV).transmission


def chest(height: int, width: int) -> _Map:
    """Chest PA (primary transmission, no scatter) at 70 kV, filling the map.

    Raises
    ------
    ValueError
        A map smaller than 32 × 32 pixels.
    """
    scene = render(Placement("chest", scatter=False), height, width, 0.139, kv=REFERENCE_KV)
    return scene.transmission

"""Phantoms computed from attenuation: anatomy, test objects and what else is in the beam.

A phantom is a set of solids (:mod:`.shapes`) of materials whose attenuation depends on
the tube voltage (:mod:`.materials`); Beer-Lambert line integrals through them give the
primary transmission, and the accessories (:mod:`.accessories`: collimation, L/R marker,
scatter, anti-scatter grid) complete the :class:`Scene` of one exposure, which carries its
:class:`Truth` (field, nodules, wedge steps, edge, marker, grid) for processing and QC to
be measured against. :class:`Placement` says what stands in the beam; simulated panels
render it per exposure at the delivered kV (:class:`PlacedPhantom`).
"""

from .accessories import GRID_PRIMARY, GRID_SCATTER
from .chest import NODULES_MM, chest_body
from .hand import hand_body
from .materials import KV_RANGE, Material, effective_energy_kev, mu_per_mm, slab_transmission
from .placement import (
    DEFAULT_GRID_LINES_PER_CM,
    PHANTOMS,
    PlacedPhantom,
    Placement,
    protocol_placement,
    render,
)
from .qc_objects import EDGE_ANGLE_DEG, REFERENCE_KV, edge_body, wedge_body
from .scene import Body, Edge, Field, Marker, Nodule, Scene, Truth, WedgeStep

__all__ = [
    "DEFAULT_GRID_LINES_PER_CM",
    "EDGE_ANGLE_DEG",
    "GRID_PRIMARY",
    "GRID_SCATTER",
    "KV_RANGE",
    "NODULES_MM",
    "PHANTOMS",
    "REFERENCE_KV",
    "Body",
    "Edge",
    "Field",
    "Marker",
    "Material",
    "Nodule",
    "PlacedPhantom",
    "Placement",
    "Scene",
    "Truth",
    "WedgeStep",
    "chest_body",
    "edge_body",
    "effective_energy_kev",
    "hand_body",
    "mu_per_mm",
    "protocol_placement",
    "render",
    "slab_transmission",
    "wedge_body",
]

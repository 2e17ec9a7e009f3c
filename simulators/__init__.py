"""Simulated panels: the independent ground truth the rest of panelgate is measured against.

Never imports panelgate.calibration.
"""

import logging

from .detector import Fault, SimulatedDetector
from .panel import DefectClass, PanelModel, PanelSpec, PanelTruth
from .phantom import chest, flat_field, step_wedge_line_pairs

__all__ = [
    "DefectClass",
    "Fault",
    "PanelModel",
    "PanelSpec",
    "PanelTruth",
    "SimulatedDetector",
    "chest",
    "flat_field",
    "step_wedge_line_pairs",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

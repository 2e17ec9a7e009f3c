"""Simulated panels: the independent ground truth the rest of panelgate is measured against.

Never imports panelgate.calibration.
"""

import logging

from .detector import Fault, SimulatedDetector
from .dose import AED_THRESHOLD_UGY_PER_S, Irradiable, TriggerSource
from .panel import DefectClass, PanelModel, PanelSpec, PanelTruth
from .phantom import chest, flat_field, step_wedge_line_pairs
from .room import BeamPulse, Room, air_kerma_ugy

__all__ = [
    "AED_THRESHOLD_UGY_PER_S",
    "BeamPulse",
    "DefectClass",
    "Fault",
    "Irradiable",
    "PanelModel",
    "PanelSpec",
    "PanelTruth",
    "Room",
    "SimulatedDetector",
    "TriggerSource",
    "air_kerma_ugy",
    "chest",
    "flat_field",
    "step_wedge_line_pairs",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

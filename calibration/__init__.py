"""Dark (offset), gain and defect maps, and the numba correction kernel.

Imports only panelgate.drivers.
"""

import logging

from .calset import CalibrationSet, DefectFlag
from .correct import Engine, correct
from .errors import CalibrationError, CalibrationMismatch
from .kernel import warm_up
from .maps import FrameAverager, defect_map, gain_map, local_mean

__all__ = [
    "CalibrationError",
    "CalibrationMismatch",
    "CalibrationSet",
    "DefectFlag",
    "Engine",
    "FrameAverager",
    "correct",
    "defect_map",
    "gain_map",
    "local_mean",
    "warm_up",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

"""Dark (offset), gain and defect maps, their store, and the numba correction kernels.

Imports only panelgate.drivers.
"""

import logging

from .build import FloodLevel, build_calibration
from .calset import CalibrationSet, DefectFlag, PiecewiseGain, Replacement
from .correct import Engine, correct
from .dark import (
    DEFAULT_DARK_FRAMES,
    DarkAccumulator,
    DarkMap,
    Validity,
    ValidityRules,
    ValidityStatus,
    check_validity,
    update_dark,
)
from .defects import DefectThresholds, classify_defects, defects_for_mode
from .errors import (
    CalibrationCorrupt,
    CalibrationError,
    CalibrationFormatError,
    CalibrationMismatch,
    CalibrationNotFound,
)
from .gain import multipoint_gain
from .kernel import warm_up
from .maps import FrameAverager, defect_map, gain_map, local_mean
from .plan import DefectPlan, plan_defects
from .qc import Uniformity, fixed_pattern_cv, tg150_uniformity
from .store import CalibrationStore, StoredSet

__all__ = [
    "DEFAULT_DARK_FRAMES",
    "CalibrationCorrupt",
    "CalibrationError",
    "CalibrationFormatError",
    "CalibrationMismatch",
    "CalibrationNotFound",
    "CalibrationSet",
    "CalibrationStore",
    "DarkAccumulator",
    "DarkMap",
    "DefectFlag",
    "DefectPlan",
    "DefectThresholds",
    "Engine",
    "FloodLevel",
    "FrameAverager",
    "PiecewiseGain",
    "Replacement",
    "StoredSet",
    "Uniformity",
    "Validity",
    "ValidityRules",
    "ValidityStatus",
    "build_calibration",
    "check_validity",
    "classify_defects",
    "correct",
    "defect_map",
    "defects_for_mode",
    "fixed_pattern_cv",
    "gain_map",
    "local_mean",
    "multipoint_gain",
    "plan_defects",
    "tg150_uniformity",
    "update_dark",
    "warm_up",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

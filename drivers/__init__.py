"""Detector contracts, frames and the exception root: the bottom layer of panelgate.

Nothing here imports any other panelgate package.
"""

import logging

from .detector import Detector, DetectorInfo, DetectorState, DetectorStatus, FeatureAccess
from .errors import (
    DetectorTimeout,
    DriverError,
    IncompatibleState,
    InvalidSetting,
    PanelgateError,
    TransportError,
)
from .frame import Frame, FrameMeta, ReadoutMode

__all__ = [
    "Detector",
    "DetectorInfo",
    "DetectorState",
    "DetectorStatus",
    "DetectorTimeout",
    "DriverError",
    "FeatureAccess",
    "Frame",
    "FrameMeta",
    "IncompatibleState",
    "InvalidSetting",
    "PanelgateError",
    "ReadoutMode",
    "TransportError",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

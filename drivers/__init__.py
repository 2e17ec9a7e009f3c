"""Detector contracts, frames and the exception root: the bottom layer of panelgate.

Nothing here imports any other panelgate package.
"""

import logging

from .detector import (
    Detector,
    DetectorInfo,
    DetectorState,
    DetectorStatus,
    FeatureAccess,
    ReportsTriggerSource,
    TriggerSource,
)
from .errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    DetectorTimeout,
    DriverError,
    IncompatibleState,
    InvalidSetting,
    PanelgateError,
    PatientExposed,
    ProtocolError,
    ReadCancelled,
    StorageError,
    TransportError,
    UsageError,
)
from .frame import Frame, FrameMeta, ReadoutMode
from .framestream import FrameStream, StreamCounters, StreamPolicy

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ConfigError",
    "Detector",
    "DetectorInfo",
    "DetectorState",
    "DetectorStatus",
    "DetectorTimeout",
    "DriverError",
    "FeatureAccess",
    "Frame",
    "FrameMeta",
    "FrameStream",
    "IncompatibleState",
    "InvalidSetting",
    "PanelgateError",
    "PatientExposed",
    "ProtocolError",
    "ReadCancelled",
    "ReadoutMode",
    "ReportsTriggerSource",
    "StorageError",
    "StreamCounters",
    "StreamPolicy",
    "TransportError",
    "TriggerSource",
    "UsageError",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

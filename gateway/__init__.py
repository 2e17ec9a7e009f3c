"""DX DICOM building and delivery to PACS.

Imports panelgate.calibration and panelgate.drivers, never the simulators.
"""

import logging

from .errors import (
    DeliveryError,
    DicomBuildError,
    DicomWebError,
    DuplicateInstance,
    GatewayError,
    InvalidInstance,
    OutboxError,
    OutboxFull,
    UnknownDestination,
)

__all__ = [
    "DeliveryError",
    "DicomBuildError",
    "DicomWebError",
    "DuplicateInstance",
    "GatewayError",
    "InvalidInstance",
    "OutboxError",
    "OutboxFull",
    "UnknownDestination",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

"""DX DICOM building and delivery to PACS.

Imports panelgate.calibration and panelgate.drivers, never the simulators.
"""

import logging

from .errors import DeliveryError, DicomBuildError, GatewayError

__all__ = ["DeliveryError", "DicomBuildError", "GatewayError"]

logging.getLogger(__name__).addHandler(logging.NullHandler())

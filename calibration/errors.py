"""Calibration errors; see :mod:`panelgate.drivers.errors` for the whole tree.

::

    CalibrationError                       calibration data cannot be built or used
    ├── CalibrationMismatch   (ValueError) another detector, readout mode or shape
    ├── CalibrationFormatError (ValueError) a store entry in a format this version cannot read
    ├── CalibrationCorrupt                 a store file is truncated or fails its checksum
    └── CalibrationNotFound   (LookupError) no such set, or none for this detector and mode
"""

from __future__ import annotations

from panelgate.drivers.errors import PanelgateError

__all__ = [
    "CalibrationCorrupt",
    "CalibrationError",
    "CalibrationFormatError",
    "CalibrationMismatch",
    "CalibrationNotFound",
]


class CalibrationError(PanelgateError):
    """Calibration data cannot be built or used."""


class CalibrationMismatch(CalibrationError, ValueError):
    """A calibration set does not fit the frame (detector, readout mode or shape differ)."""


class CalibrationFormatError(CalibrationError, ValueError):
    """A stored calibration set has a format (version) this panelgate cannot read."""


class CalibrationCorrupt(CalibrationError):
    """A stored calibration file is missing, truncated, or does not match its checksum."""


class CalibrationNotFound(CalibrationError, LookupError):
    """No stored calibration set matches the request."""

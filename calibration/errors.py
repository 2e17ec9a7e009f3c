"""Calibration errors; see :mod:`panelgate.drivers.errors` for the whole tree.

::

    CalibrationError                       calibration data cannot be built or used (exit 1)
    ├── CalibrationMismatch   (ValueError) another detector, readout mode or shape (exit 2)
    ├── CalibrationFormatError (ValueError) a store entry in a format this version cannot read
    ├── CalibrationCorrupt                 a store file is truncated or fails its checksum
    └── CalibrationNotFound   (LookupError) no such set, or none for this detector and mode (exit 2)
"""

from __future__ import annotations

from panelgate.drivers.errors import EXIT_USAGE, PanelgateError

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

    exit_status = EXIT_USAGE


class CalibrationFormatError(CalibrationError, ValueError):
    """A stored calibration set has a format (version) this panelgate cannot read."""


class CalibrationCorrupt(CalibrationError):
    """A stored calibration file is missing, truncated, or does not match its checksum."""


class CalibrationNotFound(CalibrationError, LookupError):
    """No stored calibration set matches the request (an unknown id, or none for the panel)."""

    exit_status = EXIT_USAGE

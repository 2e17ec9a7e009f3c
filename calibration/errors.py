"""Calibration errors; see :mod:`panelgate.drivers.errors` for the whole tree."""

from __future__ import annotations

from panelgate.drivers.errors import PanelgateError

__all__ = ["CalibrationError", "CalibrationMismatch"]


class CalibrationError(PanelgateError):
    """Calibration data cannot be built or used."""


class CalibrationMismatch(CalibrationError, ValueError):
    """A calibration set does not fit the frame (detector, readout mode or shape differ)."""

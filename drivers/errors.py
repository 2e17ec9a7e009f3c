"""The panelgate exception tree.

Every error panelgate raises on purpose derives from :class:`PanelgateError`. Each leaf
also derives from the builtin it behaves like, so callers that only know Python's
builtins (``except TimeoutError``) still catch it::

    PanelgateError
    ├── DriverError
    │   ├── DetectorTimeout        (TimeoutError)   a wait on the panel ran out
    │   ├── TransportError         (OSError)        the link to the panel failed
    │   ├── IncompatibleState      (RuntimeError)   a call not allowed in this state
    │   └── InvalidSetting         (ValueError)     a setting the panel cannot take
    ├── CalibrationError           panelgate.calibration.errors
    ├── GatewayError               panelgate.gateway.errors
    └── ConfigError, UsageError    panelgate.acquisition.errors

Foreign exceptions (socket, pyusb, pynetdicom) are translated at the boundary with
``raise ... from exc`` so that no third-party type leaks through the public API.
"""

from __future__ import annotations

__all__ = [
    "DetectorTimeout",
    "DriverError",
    "IncompatibleState",
    "InvalidSetting",
    "PanelgateError",
    "TransportError",
]


class PanelgateError(Exception):
    """Root of every error panelgate raises on purpose."""


class DriverError(PanelgateError):
    """A detector or its link did not do what was asked."""


class DetectorTimeout(DriverError, TimeoutError):
    """A wait on the detector (a frame, an acknowledgement) ran past its timeout."""


class TransportError(DriverError, OSError):
    """The connection to the detector failed or was lost."""


class IncompatibleState(DriverError, RuntimeError):
    """The call is not allowed in the detector's current state (e.g. trigger before arm)."""


class InvalidSetting(DriverError, ValueError):
    """A setting is outside what the detector supports; the message names it and the range."""

"""Gateway errors; see :mod:`panelgate.drivers.errors` for the whole tree.

::

    GatewayError
    ├── DicomBuildError        (ValueError)       an instance cannot be built from the values
    ├── DeliveryError          (ConnectionError)  an instance did not reach its destination
    └── OutboxError                               the spool refused or cannot do an operation
        ├── DuplicateInstance  (ValueError)       same SOP Instance UID, different content
        ├── OutboxFull         (OSError)          free disk space below the configured reserve
        └── UnknownDestination (KeyError)         a destination name the outbox does not know
"""

from __future__ import annotations

from panelgate.drivers.errors import PanelgateError

__all__ = [
    "DeliveryError",
    "DicomBuildError",
    "DuplicateInstance",
    "GatewayError",
    "OutboxError",
    "OutboxFull",
    "UnknownDestination",
]


class GatewayError(PanelgateError):
    """Building, storing or sending a DICOM instance failed."""


class DicomBuildError(GatewayError, ValueError):
    """A DICOM instance cannot be built from the values given (e.g. a value its VR forbids)."""


class DeliveryError(GatewayError, ConnectionError):
    """An instance did not reach its destination; the message says why and whether to retry.

    Parameters
    ----------
    message : str
        What happened, naming the destination.
    retryable : bool
        True when the same request may succeed later (peer down, timeout, out of resources).
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class OutboxError(GatewayError):
    """The outbox cannot do what was asked; nothing already spooled is touched."""


class DuplicateInstance(OutboxError, ValueError):
    """An instance with this SOP Instance UID is already spooled with different content."""


class OutboxFull(OutboxError, OSError):
    """Free disk space is below the configured reserve: new instances are refused."""


class UnknownDestination(OutboxError, KeyError):
    """The outbox has no destination of that name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

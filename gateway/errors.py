"""Gateway errors; see :mod:`panelgate.drivers.errors` for the whole tree.

::

    GatewayError                                  exit 1 unless stated
    ├── DicomBuildError        (ValueError)       2  an instance cannot be built from the values
    ├── InvalidInstance        (ValueError)          a file that is not a complete, decodable
    │                                                DICOM instance (truncated, bad pixel data)
    ├── DeliveryError          (ConnectionError)     an instance did not reach its destination
    │   └── DicomWebError                            a DICOMweb (PS3.18) request failed: HTTP status
    │                                                or connection, TLS, timeout
    └── OutboxError                                  the spool refused or cannot do an operation
        ├── DuplicateInstance  (ValueError)       2  same SOP Instance UID, different content
        ├── OutboxFull         (OSError)             free disk space below the configured reserve
        └── UnknownDestination (KeyError)         2  a destination name the outbox does not know
"""

from __future__ import annotations

from panelgate.drivers.errors import EXIT_USAGE, PanelgateError

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


class GatewayError(PanelgateError):
    """Building, storing or sending a DICOM instance failed."""


class DicomBuildError(GatewayError, ValueError):
    """A DICOM instance cannot be built from the values given (e.g. a value its VR forbids).

    Parameters
    ----------
    message : str
        What is wrong, naming the attribute and its VR.
    keyword : str
        The DICOM keyword of the attribute that cannot hold its value (``PatientID``), or
        ``""`` when the problem is not one attribute's; callers name the option it came from.
    """

    exit_status = EXIT_USAGE

    def __init__(self, message: str, *, keyword: str = "") -> None:
        super().__init__(message)
        self.keyword = keyword


class InvalidInstance(GatewayError, ValueError):
    """A file is not a complete, decodable DICOM instance; the message names file and defect.

    Refused before it is queued or sent (exit 1: the command was right, the file is not).
    """


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


class DicomWebError(DeliveryError):
    """A DICOMweb request (STOW-RS, QIDO-RS; PS3.18) failed as a whole.

    Raised at the one boundary that talks HTTP (:mod:`panelgate.gateway.dicomweb.http`):
    httpx's connection, TLS and timeout errors, and HTTP statuses that say nothing per
    instance, become this error with the destination's URL (never a credential).

    Parameters
    ----------
    message : str
        What happened, naming the destination.
    retryable : bool
        True when the same request may succeed later (connection lost, timeout, 5xx, 409,
        408, 429).
    status_code : int or None
        The HTTP status of the reply; None when no reply came.
    retry_after_s : float or None
        How long the server asked us to wait (``Retry-After``, RFC 9110 10.2.3), seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, retryable=retryable)
        self.status_code = status_code
        self.retry_after_s = retry_after_s


class OutboxError(GatewayError):
    """The outbox cannot do what was asked; nothing already spooled is touched."""


class DuplicateInstance(OutboxError, ValueError):
    """An instance with this SOP Instance UID is already spooled with different content."""

    exit_status = EXIT_USAGE


class OutboxFull(OutboxError, OSError):
    """Free disk space is below the configured reserve: new instances are refused."""


class UnknownDestination(OutboxError, KeyError):
    """The outbox has no destination of that name."""

    exit_status = EXIT_USAGE

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

"""Gateway errors; see :mod:`panelgate.drivers.errors` for the whole tree."""

from __future__ import annotations

from panelgate.drivers.errors import PanelgateError

__all__ = ["DeliveryError", "DicomBuildError", "GatewayError"]


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

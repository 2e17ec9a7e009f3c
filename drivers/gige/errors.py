"""Errors of the GigE Vision link, below :class:`~panelgate.drivers.errors.DriverError`.

::

    DriverError
    ├── DetectorTimeout   (TimeoutError)  no acknowledge / no frame in time (reused)
    ├── TransportError    (OSError)       socket failed, control lost, device gone (reused)
    │   └── GvcpStatusError               the device answered with an error status (0x8xxx)
    └── ProtocolError     (ValueError)    bytes that are not a valid GVCP/GVSP packet
                                          (also a :class:`panelgate.drivers.ProtocolError`)

Every error raised by the GigE driver is one of these; socket errors are translated with
``raise ... from exc``.
"""

from __future__ import annotations

from panelgate.drivers.errors import DriverError, TransportError
from panelgate.drivers.errors import ProtocolError as WireProtocolError

__all__ = ["GvcpStatusError", "ProtocolError"]


class ProtocolError(DriverError, WireProtocolError):
    """A packet does not follow the GVCP/GVSP layout; the message says which field is wrong."""


class GvcpStatusError(TransportError):
    """The device refused a GVCP command with an error status (GigE Vision 2.x, status codes).

    Parameters
    ----------
    status : int
        The 16-bit status code of the acknowledge (``0x8xxx``).
    message : str
        What was asked and why it failed.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

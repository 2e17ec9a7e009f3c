"""Translation of pyusb errors into panelgate errors, at the USB boundary."""

from __future__ import annotations

import errno

import usb.core

from panelgate.drivers.errors import DetectorTimeout, DriverError, TransportError

__all__ = ["EndpointHalted", "is_halt", "is_timeout", "translate"]


class EndpointHalted(TransportError):
    """A bulk endpoint answered with a STALL (EPIPE); it was cleared and the data is lost."""


def is_timeout(exc: BaseException) -> bool:
    """Return True for a pyusb transfer timeout."""
    return isinstance(exc, usb.core.USBTimeoutError)


def is_halt(exc: BaseException) -> bool:
    """Return True for a halted (stalled) endpoint: EPIPE."""
    return isinstance(exc, usb.core.USBError) and exc.errno == errno.EPIPE


def translate(exc: usb.core.USBError, what: str) -> DriverError:
    """Map a pyusb error to DetectorTimeout (timeouts) or TransportError (everything else)."""
    if is_timeout(exc):
        return DetectorTimeout(f"{what}: USB timeout")
    if exc.errno == errno.ENODEV:
        return TransportError(f"{what}: the USB device is gone (unplugged?)")
    return TransportError(f"{what}: USB error {exc}")

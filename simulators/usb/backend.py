"""The simulated USB panel presented to pyusb as a backend (``usb.backend.IBackend``).

``usb.core.find(backend=SimulatedUsbBackend(device))`` enumerates one U3V device with an
Interface Association: interface 0 U3V control (bulk OUT 0x01, bulk IN 0x81), interface 1
U3V streaming (bulk IN 0x82). Transfers reach the :class:`U3VDeviceModel`; errors are raised
as libusb1's backend raises them: ``USBTimeoutError`` on timeouts, ``USBError`` with EPIPE
for a halted endpoint and ENODEV once unplugged. With a :class:`~.control.ControlFile`
(``control=PATH`` in the URL) another process can unplug, replug or fault the device.
"""

from __future__ import annotations

import array
import errno
import queue
from dataclasses import dataclass, field
from typing import Any

import usb.backend
import usb.core

from .control import ControlFile
from .device import U3VDeviceModel

__all__ = ["SimulatedUsbBackend"]

VID, PID = 0x1D6B, 0x0105
EP_CMD, EP_ACK, EP_STREAM = 0x01, 0x81, 0x82


@dataclass
class _Desc:
    """A descriptor: pyusb reads attributes only."""

    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


def _endpoint(address: int) -> _Desc:
    return _Desc({"bLength": 7, "bDescriptorType": 5, "bEndpointAddress": address,
                  "bmAttributes": 2, "wMaxPacketSize": 1024, "bInterval": 0, "bRefresh": 0,
                  "bSynchAddress": 0, "extra_descriptors": []})  # fmt: skip


class SimulatedUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
    """A pyusb backend with one simulated U3V panel on it.

    Parameters
    ----------
    device : U3VDeviceModel
        The device on the bus.
    control : ControlFile, optional
        Read at every transfer and enumeration: another process's unplug, replug, faults.
    """

    def __init__(self, device: U3VDeviceModel, control: ControlFile | None = None) -> None:
        self.device = device
        self.control = control
        self.configuration = 1
        self.claimed: set[int] = set()
        self._strings = {1: "panelgate", 2: device.spec.model, 3: device.spec.serial}

    def _check(self) -> None:
        if self.control is not None:
            self.control.apply(self.device)
        if not self.device.plugged:
            raise usb.core.USBError("No such device (it may have been disconnected)",
                                    errno=errno.ENODEV)  # fmt: skip

    # -- descriptors ------------------------------------------------------------------------
    def enumerate_devices(self) -> Any:
        """Yield the one device token (none once unplugged)."""
        if self.control is not None:
            self.control.apply(self.device)
        if self.device.plugged:
            yield self.device

    def get_device_descriptor(self, dev: Any) -> _Desc:
        """Return the device descriptor: class 0xEF/0x02/0x01 (IAD)."""
        return _Desc({
            "bLength": 18, "bDescriptorType": 1, "bcdUSB": 0x0300, "bDeviceClass": 0xEF,
            "bDeviceSubClass": 0x02, "bDeviceProtocol": 0x01, "bMaxPacketSize0": 9,
            "idVendor": VID, "idProduct": PID, "bcdDevice": 0x0100, "iManufacturer": 1,
            "iProduct": 2, "iSerialNumber": 3, "bNumConfigurations": 1, "address": 7, "bus": 2,
            "port_number": 1, "port_numbers": (1,), "speed": 4,
        })  # fmt: skip

    def get_configuration_descriptor(self, dev: Any, config: int) -> _Desc:
        """Return the only configuration."""
        return _Desc({"bLength": 9, "bDescriptorType": 2, "wTotalLength": 64, "bNumInterfaces": 2,
                      "bConfigurationValue": 1, "iConfiguration": 0, "bmAttributes": 0x80,
                      "bMaxPower": 100, "extra_descriptors": []})  # fmt: skip

    def get_interface_descriptor(self, dev: Any, intf: int, alt: int, config: int) -> _Desc:
        """Return interface 0 (U3V control) or 1 (U3V streaming)."""
        if intf > 1 or alt != 0:
            raise IndexError("no such interface")
        return _Desc({"bLength": 9, "bDescriptorType": 4, "bInterfaceNumber": intf,
                      "bAlternateSetting": 0, "bNumEndpoints": 2 if intf == 0 else 1,
                      "bInterfaceClass": 0xEF, "bInterfaceSubClass": 0x05,
                      "bInterfaceProtocol": 0 if intf == 0 else 2, "iInterface": 0,
                      "extra_descriptors": []})  # fmt: skip

    def get_endpoint_descriptor(self, dev: Any, ep: int, intf: int, alt: int, config: int) -> _Desc:
        """Return the bulk endpoints of each interface."""
        eps = {0: [EP_CMD, EP_ACK], 1: [EP_STREAM]}[intf]
        if ep >= len(eps):
            raise IndexError("no such endpoint")
        return _endpoint(eps[ep])

    # -- device handling ------------------------------------------------------------------------
    def open_device(self, dev: Any) -> Any:
        """Open: the handle is the device model."""
        self._check()
        return dev

    def close_device(self, dev_handle: Any) -> None:
        """Close."""
        self.claimed.clear()

    def get_configuration(self, dev_handle: Any) -> int:
        """Return the active configuration value."""
        return self.configuration

    def set_configuration(self, dev_handle: Any, config_value: int) -> None:
        """Select a configuration."""
        self.configuration = config_value

    def claim_interface(self, dev_handle: Any, intf: int) -> None:
        """Claim an interface."""
        self._check()
        self.claimed.add(intf)

    def release_interface(self, dev_handle: Any, intf: int) -> None:
        """Release an interface."""
        self.claimed.discard(intf)

    def is_kernel_driver_active(self, dev_handle: Any, intf: int) -> bool:
        """Return False: no kernel driver in a simulation."""
        return False

    def detach_kernel_driver(self, dev_handle: Any, intf: int) -> None:
        """Do nothing."""

    def attach_kernel_driver(self, dev_handle: Any, intf: int) -> None:
        """Do nothing."""

    # -- transfers --------------------------------------------------------------------------------
    def bulk_write(self, dev_handle: Any, ep: int, intf: int, data: Any, timeout: int) -> int:
        """Take a command on EP 0x01."""
        self._check()
        from .device import UsbFault  # noqa: PLC0415 - local to keep the import graph flat

        if self.device.fault is UsbFault.STALL:
            self.device.fault = UsbFault.NONE
            raise usb.core.USBError("Pipe error", errno=errno.EPIPE)
        self.device.command(bytes(data))
        return len(data)

    def bulk_read(self, dev_handle: Any, ep: int, intf: int, buff: Any, timeout: int) -> int:
        """Return an ack (EP 0x81) or the next stream transfer (EP 0x82)."""
        self._check()
        if ep == EP_STREAM and self.device.halted:
            raise usb.core.USBError("Pipe error", errno=errno.EPIPE)
        source: queue.Queue[bytes] = self.device.acks if ep == EP_ACK else self.device.stream
        try:
            data = source.get(timeout=max(timeout, 1) / 1000)
        except queue.Empty:
            raise usb.core.USBTimeoutError("Operation timed out", errno=errno.ETIMEDOUT) from None
        if data == b"UNPLUG":
            self.device.plugged = False
            self._check()
        n = min(len(data), len(buff))
        buff[:n] = array.array("B", data[:n])
        return n

    def clear_halt(self, dev_handle: Any, ep: int) -> None:
        """Clear a halted endpoint."""
        self._check()
        if ep == EP_STREAM:
            self.device.halted = False

    def ctrl_transfer(  # noqa: PLR0917 - IBackend's positional signature
        self, dev_handle: Any, request_type: int, request: int, value: int, index: int,
        data: Any, timeout: int,
    ) -> int:  # fmt: skip
        """Answer GET_DESCRIPTOR(STRING); anything else is accepted and ignored."""
        self._check()
        if request == 6 and value >> 8 == 3:
            index = value & 0xFF
            body = b"\x09\x04" if index == 0 else self._strings.get(index, "").encode("utf-16-le")
            desc = bytes([len(body) + 2, 3]) + body
            n = min(len(desc), len(data))
            data[:n] = array.array("B", desc[:n])
            return n
        return 0 if isinstance(data, int) else len(data)

    def reset_device(self, dev_handle: Any) -> None:
        """Reset: nothing to do."""

"""A simulated USB3 Vision panel behind a pyusb backend, URL ``usb://sim``."""

from .backend import SimulatedUsbBackend
from .control import ControlFile
from .device import U3VDeviceModel, UsbFault
from .panel import SimulatedUsbPanel, open_usb_sim

__all__ = [
    "ControlFile",
    "SimulatedUsbBackend",
    "SimulatedUsbPanel",
    "U3VDeviceModel",
    "UsbFault",
    "open_usb_sim",
]

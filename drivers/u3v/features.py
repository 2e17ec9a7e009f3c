"""GenICam GenApi feature access over our own GenCP port (the ``genicam`` package).

The device's GenICam XML (found through the manifest table, GenCP/U3V ABRM) is loaded into
a ``genicam.genapi.NodeMap``; the node map reaches the device through :class:`GenCPPort`,
which turns register reads and writes into READMEM / WRITEMEM. Errors raised inside the
port cannot cross GenApi's C++ layer, so the port keeps the first one and :class:`Features`
re-raises it after the GenApi call fails.
"""

from __future__ import annotations

import io
import struct
import zipfile
from typing import Any

from genicam.genapi import AbstractPort, EAccessMode, NodeMap

from panelgate.drivers.errors import DriverError, InvalidSetting, TransportError

from .control import ControlChannel
from .protocol import ABRM

__all__ = ["Features", "GenCPPort", "read_manifest_xml"]


class GenCPPort(AbstractPort):  # type: ignore[misc]
    """A GenApi port whose reads and writes are GenCP READMEM / WRITEMEM."""

    def __init__(self, control: ControlChannel) -> None:
        super().__init__()
        self.control = control
        self.error: DriverError | None = None

    def is_open(self) -> bool:
        """Return True: the port lives as long as the control channel."""
        return True

    def get_access_mode(self) -> Any:
        """Return read-write access."""
        return EAccessMode.RW

    def read(self, address: int, length: int) -> bytes:
        """Read ``length`` bytes at ``address`` for GenApi."""
        try:
            return self.control.read_mem(address, length)
        except DriverError as exc:
            self.error = self.error or exc
            raise

    def write(self, address: int, value: bytes) -> None:
        """Write ``value`` at ``address`` for GenApi."""
        try:
            self.control.write_mem(address, bytes(value))
        except DriverError as exc:
            self.error = self.error or exc
            raise


def read_manifest_xml(control: ControlChannel) -> str:
    """Read the GenICam XML named by manifest entry 0 (unzip when the schema says zip)."""
    manifest = control.read_u64(ABRM.MANIFEST_ADDRESS)
    entry = control.read_mem(manifest + 8, 64)
    schema, address, size = struct.unpack_from("<IQQ", entry, 4)
    data = control.read_mem(address, size)
    if (schema >> 10) & 0x1F == 1:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            data = zf.read(zf.namelist()[0])
    return data.decode("utf-8")


class Features:
    """Named GenICam features (SFNC names) of one device."""

    def __init__(self, control: ControlChannel, xml: str) -> None:
        self._port = GenCPPort(control)
        self._nodemap = NodeMap()
        try:
            self._nodemap.load_xml_from_string(xml)
        except Exception as exc:
            raise TransportError(f"the device's GenICam XML does not load: {exc}") from None
        self._nodemap.connect(self._port, "Device")

    def get(self, name: str) -> Any:
        """Return the value of feature ``name``."""
        return self._call(name, lambda node: node.value)

    def set(self, name: str, value: Any) -> None:
        """Set feature ``name``.

        Raises
        ------
        InvalidSetting
            GenApi refused the value (out of range, not writable).
        """
        self._call(name, lambda node: setattr(node, "value", value))

    def execute(self, name: str) -> None:
        """Execute command feature ``name``."""
        self._call(name, lambda node: node.execute())

    def _call(self, name: str, action: Any) -> Any:
        self._port.error = None
        try:
            node = self._nodemap.get_node(name)
            return action(node)
        except Exception as exc:
            cause = self._port.error
            if cause is not None:
                raise cause from None
            raise InvalidSetting(f"GenICam feature {name}: {exc}") from None

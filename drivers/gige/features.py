"""Feature access by name: the GenICam XML from the device, GenApi from the ``genicam`` package.

The XML location comes from bootstrap register 0x0200 (GigE Vision 2.x, "Manifest / XML
URL"): ``Local:<name>;<hex address>;<hex size>`` (spaces after ``;`` tolerated, ``.zip``
files unzipped). The node map is the EMVA reference GenApi (``genicam.genapi.NodeMap``)
over a port object doing READMEM/WRITEMEM on GVCP; there is no GenApi interpreter here.
GenApi and GVCP errors are translated into panelgate exceptions.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from typing import Any

from genicam import genapi

from panelgate.drivers.errors import InvalidSetting, PanelgateError

from . import bootstrap as bs
from .control import GvcpClient
from .errors import ProtocolError

__all__ = ["FeatureMap", "parse_xml_url"]

_log = logging.getLogger(__name__)
_LOCAL = re.compile(r"^local:([^;]+);\s*(?:0x)?([0-9a-f]+);\s*(?:0x)?([0-9a-f]+)", re.IGNORECASE)
_MAX_XML_BYTES = 16 << 20


def parse_xml_url(url: str) -> tuple[str, int, int]:
    """Split ``Local:name;ADDR;SIZE`` into (name, address, size); hex numbers, tolerant spacing.

    Raises
    ------
    ProtocolError
        Not a ``Local:`` URL (``File:`` and ``http:`` are not supported), or a bad size.
    """
    match = _LOCAL.match(url.strip())
    if match is None:
        raise ProtocolError(f"unsupported GenICam XML URL {url!r}: expected Local:NAME;ADDR;SIZE")
    name, address, size = match.group(1), int(match.group(2), 16), int(match.group(3), 16)
    if not 0 < size <= _MAX_XML_BYTES:
        raise ProtocolError(f"GenICam XML size {size} B in {url!r} is out of range")
    return name, address, size


class _GvcpPort(genapi.AbstractPort):  # type: ignore[misc]
    """GenApi port whose reads and writes are GVCP READMEM/WRITEMEM."""

    def __init__(self, client: GvcpClient) -> None:
        super().__init__()
        self.client = client
        self.error: PanelgateError | None = None

    def get_access_mode(self) -> Any:
        return genapi.EAccessMode.RW

    def read(self, address: int, size: int) -> bytes:
        try:
            return self.client.read_memory(address, size)
        except PanelgateError as exc:
            self.error = exc
            raise

    def write(self, address: int, value: bytes) -> None:
        try:
            data = bytes(value)
            self.client.write_memory(address, data + b"\0" * (-len(data) % 4))
        except PanelgateError as exc:
            self.error = exc
            raise


class FeatureMap:
    """GenICam features of one device, by SFNC name.

    Parameters
    ----------
    client : GvcpClient
        Control channel to the device (the node map reads registers through it).

    Raises
    ------
    ProtocolError
        The XML URL or file is unusable.
    TransportError, DetectorTimeout
        The device did not answer.
    """

    def __init__(self, client: GvcpClient) -> None:
        raw = client.read_memory(bs.REG_XML_URL_0, bs.XML_URL_SIZE_BYTES)
        url = raw.split(b"\0", 1)[0].decode("ascii", "replace")
        name, address, size = parse_xml_url(url)
        data = client.read_memory(address, size)
        if name.lower().endswith(".zip"):
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    data = archive.read(archive.namelist()[0])
            except (zipfile.BadZipFile, IndexError) as exc:
                raise ProtocolError(f"GenICam XML archive {name!r} is not a zip file") from exc
        self.xml = data.split(b"\0", 1)[0].decode("utf-8")
        self._port = _GvcpPort(client)
        self._map = genapi.NodeMap()
        try:
            self._map.load_xml_from_string(self.xml)
            self._map.connect(self._port, "Device")
        except Exception as exc:  # genicam raises its own GenericException tree
            raise ProtocolError(f"GenICam XML {name!r} does not load: {exc}") from None
        _log.debug("loaded GenICam XML %s (%d B) from 0x%X", name, size, address)

    def names(self) -> list[str]:
        """Names of every node in the map."""
        return [node.node.name for node in self._map.nodes]

    def has(self, name: str) -> bool:
        """Tell whether the device describes a feature called ``name``."""
        return bool(self._map.has_node(name))

    def get(self, name: str) -> int | float | str | bool:
        """Read a feature: int, float, bool, or the symbolic name of an enumeration."""
        return self._call(name, lambda node: node.value)  # type: ignore[no-any-return]

    def set(self, name: str, value: int | float | str | bool) -> None:
        """Write a feature (an enumeration takes its entry's name).

        A string is parsed by GenApi for the feature's own type (``FromString``), so that
        values typed on a command line reach integer, float and boolean features too.

        Raises
        ------
        InvalidSetting
            Unknown feature, value out of range or unparsable, or not writable.
        """

        def assign(node: Any) -> None:
            if isinstance(value, str):
                node.from_string(value)
            else:
                node.value = value

        self._call(name, assign)

    def execute(self, name: str) -> None:
        """Execute a command feature (AcquisitionStart, TriggerSoftware, ...)."""
        self._call(name, lambda node: node.execute())

    def _call(self, name: str, action: Any) -> Any:
        if not self._map.has_node(name):
            raise InvalidSetting(f"the device has no feature {name!r}")
        self._port.error = None
        try:
            return action(self._map.get_node(name))
        except Exception as exc:  # genicam exceptions carry no stable Python types
            if self._port.error is not None:
                raise self._port.error from None
            message = str(exc).split(" : ", 1)[0]
            raise InvalidSetting(f"feature {name}: {message}") from None

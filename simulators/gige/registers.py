"""The simulated device's address space: bootstrap block, feature registers, the XML file.

Reads of any mapped address succeed; writes are checked here (alignment, mapping,
read-only) and return a GVCP status code (GigE Vision 2.x, "Status Codes") instead of
raising, because the GVCP server turns them into acknowledges.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from panelgate.drivers.gige import bootstrap as bs
from panelgate.drivers.gige.gvcp import Status

from .features import FEATURE_BASE, FEATURES, XML_ADDRESS, Feature, Kind

__all__ = ["PENDING_TIMEOUT_MS", "DeviceIdentity", "RegisterSpace"]

_WRITABLE_BOOTSTRAP = frozenset(
    {
        bs.REG_CCP,
        bs.REG_SCP0,
        bs.REG_SCPS0,
        bs.REG_SCPD0,
        bs.REG_SCDA0,
        bs.REG_HEARTBEAT_TIMEOUT,
        bs.REG_GVCP_CONFIGURATION,
    }
)
PENDING_TIMEOUT_MS = 100
"""Longest time the simulated device executes a command before it acknowledges it or, with
PENDING_ACK enabled, announces a longer execution (bootstrap "Pending Timeout", 0x0958)."""
_FEATURE_SPAN = 0x100


@dataclass(frozen=True)
class DeviceIdentity:
    """What the bootstrap block says about the device."""

    manufacturer: str = "panelgate"
    model: str = "PG-SIM 4343 GigE"
    version: str = "sim-gige-1"
    serial: str = "SIM-0001"
    user_name: str = "panel"
    mac: int = 0x02_50_47_00_00_01  #: locally administered
    ip: int = 0x7F000001


class RegisterSpace:
    """Memory map of the device with write checks and a write hook.

    Parameters
    ----------
    identity : DeviceIdentity
        Written into the bootstrap strings.
    xml : bytes
        The GenICam XML file mapped at :data:`~.features.XML_ADDRESS`.
    on_write : callable
        ``on_write(address, value) -> status`` called for every 32-bit register write
        after the checks; it applies side effects and may refuse with a status.
    """

    def __init__(
        self, identity: DeviceIdentity, xml: bytes, on_write: Callable[[int, bytes], int]
    ) -> None:
        self._boot = bytearray(bs.BOOTSTRAP_SIZE_BYTES)
        self._features = bytearray(_FEATURE_SPAN)
        padded = xml + b"\0" * (-len(xml) % 4)
        self._xml = bytes(padded)
        self._on_write = on_write
        self._by_address: dict[int, Feature] = {f.address: f for f in FEATURES}
        self._fill_bootstrap(identity, len(xml))
        for f in FEATURES:
            self.set_feature(f, f.default)

    # -- typed access used by the device -----------------------------------------------------
    def u32(self, address: int) -> int:
        """Read a 32-bit register."""
        return int(struct.unpack(">I", self.read(address, 4))[0])

    def set_u32(self, address: int, value: int) -> None:
        """Set a 32-bit register without checks or side effects (device-side update)."""
        self._store(address, struct.pack(">I", value & 0xFFFFFFFF))

    def get_feature(self, f: Feature) -> float:
        """Read a feature register's value (float for doubles, int otherwise)."""
        raw = self.read(f.address, f.length_bytes)
        if f.kind is Kind.FLOAT:
            return float(struct.unpack(">d", raw)[0])
        return int(struct.unpack(">I", raw)[0])

    def set_feature(self, f: Feature, value: float) -> None:
        """Set a feature register without checks (device-side update)."""
        raw = struct.pack(">d", value) if f.kind is Kind.FLOAT else struct.pack(">I", int(value))
        self._store(f.address, raw)

    # -- GVCP access -----------------------------------------------------------------------------
    def read(self, address: int, count: int) -> bytes:
        """Return ``count`` bytes at ``address``.

        Raises
        ------
        LookupError
            The range is not mapped.
        """
        region, base = self._region(address, count)
        return bytes(region[address - base : address - base + count])

    def check_read(self, address: int, count: int) -> int:
        """Status for a read of ``count`` bytes at ``address`` (SUCCESS, INVALID_ADDRESS, ...)."""
        if address % 4 or count % 4:
            return Status.BAD_ALIGNMENT
        try:
            self._region(address, count)
        except LookupError:
            return Status.INVALID_ADDRESS
        return Status.SUCCESS

    def write(self, address: int, data: bytes) -> int:
        """Write ``data`` register by register; returns the status of the first failure."""
        if address % 4 or len(data) % 4:
            return Status.BAD_ALIGNMENT
        for offset in range(0, len(data), 4):
            reg = address + offset
            status = self._check_write(reg)
            if status == Status.SUCCESS:
                status = self._write_register(reg, data[offset : offset + 4], data, offset)
            if status != Status.SUCCESS:
                return status
        return Status.SUCCESS

    def _write_register(self, reg: int, word: bytes, data: bytes, offset: int) -> int:
        f = self._by_address.get(reg)
        if f is not None and f.kind is Kind.FLOAT:
            raw = data[offset : offset + 8]
            if len(raw) != 8:
                return Status.BAD_ALIGNMENT
            return self._on_write(reg, raw)
        if (
            f is None
            and reg - 4 in self._by_address
            and self._by_address[reg - 4].kind is Kind.FLOAT
        ):
            return Status.SUCCESS  # second half of a double, stored with the first
        return self._on_write(reg, word)

    def commit(self, address: int, raw: bytes) -> None:
        """Store bytes after the write hook accepted them."""
        self._store(address, raw)

    # -- internals ---------------------------------------------------------------------------------
    def _check_write(self, address: int) -> int:
        if address < bs.BOOTSTRAP_SIZE_BYTES:
            if address in _WRITABLE_BOOTSTRAP:
                return Status.SUCCESS
            return Status.WRITE_PROTECT
        if FEATURE_BASE <= address < FEATURE_BASE + _FEATURE_SPAN:
            f = self._by_address.get(address) or self._by_address.get(address - 4)
            if f is None:
                return Status.INVALID_ADDRESS
            return Status.SUCCESS if f.writable else Status.WRITE_PROTECT
        if XML_ADDRESS <= address < XML_ADDRESS + len(self._xml):
            return Status.WRITE_PROTECT
        return Status.INVALID_ADDRESS

    def _region(self, address: int, count: int) -> tuple[bytearray | bytes, int]:
        for region, base in (
            (self._boot, 0),
            (self._features, FEATURE_BASE),
            (self._xml, XML_ADDRESS),
        ):
            if base <= address and address + count <= base + len(region) and count >= 0:
                return region, base
        raise LookupError(f"0x{address:X}+{count} is not mapped")

    def _store(self, address: int, raw: bytes) -> None:
        region, base = self._region(address, len(raw))
        if isinstance(region, bytes):
            raise LookupError(f"0x{address:X} is read-only memory")
        region[address - base : address - base + len(raw)] = raw

    def _fill_bootstrap(self, ident: DeviceIdentity, xml_size: int) -> None:
        self.set_u32(bs.REG_VERSION, 2 << 16 | 1)
        self.set_u32(bs.REG_DEVICE_MODE, 1 << 31 | 1)  # big-endian, UTF-8
        self.set_u32(bs.REG_MAC_HIGH, ident.mac >> 32)
        self.set_u32(bs.REG_MAC_LOW, ident.mac & 0xFFFFFFFF)
        self.set_u32(bs.REG_SUPPORTED_IP_CONFIG, 0x7)
        self.set_u32(bs.REG_CURRENT_IP_CONFIG, 0x1)
        self.set_u32(bs.REG_CURRENT_IP, ident.ip)
        self.set_u32(bs.REG_CURRENT_MASK, 0xFF000000)
        url = f"Local:panelgate.xml;{XML_ADDRESS:X};{xml_size:X}"
        for address, text in (
            (bs.REG_MANUFACTURER_NAME, ident.manufacturer),
            (bs.REG_MODEL_NAME, ident.model),
            (bs.REG_DEVICE_VERSION, ident.version),
            (bs.REG_MANUFACTURER_INFO, "simulated flat panel"),
            (bs.REG_SERIAL_NUMBER, ident.serial),
            (bs.REG_USER_NAME, ident.user_name),
            (bs.REG_XML_URL_0, url),
            (bs.REG_XML_URL_1, url),
        ):
            size = bs.STRING_SIZES_BYTES[address]
            raw = text.encode()[: size - 1]
            self._boot[address : address + size] = raw + b"\0" * (size - len(raw))
        self.set_u32(bs.REG_N_NETWORK_INTERFACES, 1)
        self.set_u32(bs.REG_N_STREAM_CHANNELS, 1)
        caps = bs.GVCP_CAP_WRITEMEM | bs.GVCP_CAP_PACKET_RESEND | bs.GVCP_CAP_PENDING_ACK
        self.set_u32(bs.REG_GVCP_CAPABILITY, caps)
        self.set_u32(bs.REG_HEARTBEAT_TIMEOUT, 3000)
        self.set_u32(bs.REG_PENDING_TIMEOUT, PENDING_TIMEOUT_MS)
        self.set_u32(bs.REG_TIMESTAMP_FREQ_HIGH, 0)
        self.set_u32(bs.REG_TIMESTAMP_FREQ_LOW, 1_000_000_000)
        self.set_u32(bs.REG_SCPS0, 1500)

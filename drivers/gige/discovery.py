"""GigE Vision device discovery (GVCP DISCOVERY), only where the caller points it.

Discovery is a broadcast on a real network, so :func:`discover` never broadcasts by
default: it sends DISCOVERY to the address given (a device's unicast address, or a
broadcast address the caller names explicitly together with the interface to use).
The acknowledge carries bootstrap registers 0x0000-0x00F7 (GigE Vision 2.x, "DISCOVERY").
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

from panelgate.drivers.errors import TransportError

from . import bootstrap as bs
from . import gvcp
from .errors import ProtocolError

__all__ = ["DiscoveredDevice", "discover", "parse_discovery_ack"]


@dataclass(frozen=True)
class DiscoveredDevice:
    """What a DISCOVERY acknowledge says about a device."""

    ip: str
    mac: str
    manufacturer: str
    model: str
    version: str
    serial: str
    user_name: str


def _text(payload: bytes, address: int) -> str:
    size = bs.STRING_SIZES_BYTES[address]
    return payload[address : address + size].split(b"\0", 1)[0].decode("utf-8", "replace")


def parse_discovery_ack(payload: bytes) -> DiscoveredDevice:
    """Decode the 248-byte DISCOVERY acknowledge payload.

    Raises
    ------
    ProtocolError
        The payload is shorter than 248 bytes.
    """
    if len(payload) < bs.DISCOVERY_SIZE_BYTES:
        raise ProtocolError(f"DISCOVERY acknowledge of {len(payload)} B, expected 248")
    mac_high, mac_low = struct.unpack_from(">II", payload, bs.REG_MAC_HIGH)
    mac = (mac_high & 0xFFFF) << 32 | mac_low
    return DiscoveredDevice(
        ip=socket.inet_ntoa(payload[bs.REG_CURRENT_IP : bs.REG_CURRENT_IP + 4]),
        mac=":".join(f"{b:02x}" for b in mac.to_bytes(6, "big")),
        manufacturer=_text(payload, bs.REG_MANUFACTURER_NAME),
        model=_text(payload, bs.REG_MODEL_NAME),
        version=_text(payload, bs.REG_DEVICE_VERSION),
        serial=_text(payload, bs.REG_SERIAL_NUMBER),
        user_name=_text(payload, bs.REG_USER_NAME),
    )


def discover(
    address: str, port: int = bs.GVCP_PORT, interface: str | None = None, timeout_s: float = 0.5
) -> list[DiscoveredDevice]:
    """Send DISCOVERY to ``address`` and collect the answers for ``timeout_s``.

    Parameters
    ----------
    address : str
        A device address, or a broadcast address (then ``interface`` is required).
    port : int
        GVCP port.
    interface : str, optional
        Network interface to bind to (SO_BINDTODEVICE) for a broadcast.
    timeout_s : float
        How long to collect answers.

    Raises
    ------
    ValueError
        A broadcast address without an interface.
    TransportError
        The socket failed.
    """
    broadcast = address == "255.255.255.255" or address.endswith(".255")
    if broadcast and interface is None:
        raise ValueError("a broadcast discovery needs the interface it may go out on")
    found: dict[str, DiscoveredDevice] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            if interface is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
            if broadcast:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            flags = gvcp.ACK_REQUIRED | gvcp.ALLOW_BROADCAST_ACK
            sock.sendto(
                gvcp.encode_command(gvcp.Command.DISCOVERY, 0xFFFF, b"", flags), (address, port)
            )
            deadline = time.monotonic() + timeout_s
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    data = sock.recv(2048)
                except TimeoutError:
                    break
                try:
                    ack = gvcp.decode_ack(data)
                    if ack.is_error or ack.ack != gvcp.Command.DISCOVERY + 1:
                        continue
                    device = parse_discovery_ack(ack.payload)
                except ProtocolError:
                    continue
                found[device.ip + device.serial] = device
        except OSError as exc:
            raise TransportError(f"GigE discovery via {address} failed: {exc}") from exc
    return list(found.values())

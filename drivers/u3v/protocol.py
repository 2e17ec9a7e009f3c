"""USB3 Vision packets: GenCP control (U3VCP) and stream leader/trailer, pure encode/decode.

No I/O. All U3V fields are little-endian. Layouts follow the USB3 Vision specification as
implemented by aravis (``src/arvuvcpprivate.h``, ``src/arvuvspprivate.h``); see
``shared/reference/usb3-vision.md`` sections 2, 3 and 5.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from panelgate.drivers.errors import ProtocolError, TransportError

__all__ = [
    "ABRM",
    "ACK_PENDING",
    "ACK_READMEM",
    "ACK_WRITEMEM",
    "CMD_READMEM",
    "CMD_WRITEMEM",
    "FLAG_REQUEST_ACK",
    "FLAG_RESEND",
    "LEADER_SIZE",
    "MONO16",
    "PREFIX",
    "SBRM",
    "SIRM",
    "STATUS_TEXT",
    "TRAILER_SIZE",
    "U3V_CLASS",
    "U3V_SUBCLASS",
    "Ack",
    "Command",
    "Leader",
    "StreamLayout",
    "Trailer",
    "U3VProtocolError",
    "decode_ack",
    "decode_command",
    "decode_leader",
    "decode_trailer",
    "encode_ack",
    "encode_leader",
    "encode_read",
    "encode_trailer",
    "encode_write",
    "plan_stream",
]

U3V_CLASS, U3V_SUBCLASS = 0xEF, 0x05
"""bInterfaceClass / bInterfaceSubClass of U3V interfaces; protocol 0 control, 1 event, 2 data."""

PREFIX = 0x43563355  # "U3VC"
FLAG_REQUEST_ACK, FLAG_RESEND = 0x4000, 0x8000
CMD_READMEM, ACK_READMEM = 0x0800, 0x0801
CMD_WRITEMEM, ACK_WRITEMEM = 0x0802, 0x0803
ACK_PENDING = 0x0805
_HEADER = struct.Struct("<IHHHH")  # prefix, flags/status, command id, length, request id

LEADER_MAGIC, TRAILER_MAGIC = 0x4C563355, 0x54563355  # "U3VL", "U3VT"
_LEADER = struct.Struct("<IHHQHHQIIIIIHH")
_TRAILER = struct.Struct("<IHHQIQ")
LEADER_SIZE, TRAILER_SIZE = _LEADER.size, _TRAILER.size
MONO16 = 0x01100007
"""PFNC Mono16."""

STATUS_TEXT = {
    0x8001: "not implemented",
    0x8002: "invalid parameter",
    0x8003: "invalid address",
    0x8004: "write protect",
    0x8005: "bad alignment",
    0x8006: "access denied",
    0x8007: "busy",
    0x800B: "message timeout",
    0x800E: "invalid header",
    0x800F: "wrong config",
    0x8FFF: "generic error",
    0xA001: "resend not supported",
    0xA002: "stream endpoint halted",
    0xA003: "SI payload size not aligned",
    0xA004: "SI registers inconsistent",
    0xA100: "data discarded",
    0xA101: "data overrun",
}


class ABRM:
    """Technology-agnostic bootstrap registers (absolute addresses, GenCP)."""

    MANUFACTURER, MODEL, FAMILY, VERSION = 0x0004, 0x0044, 0x0084, 0x00C4
    SERIAL = 0x0144
    MAX_RESPONSE_MS = 0x01CC
    MANIFEST_ADDRESS = 0x01D0
    SBRM_ADDRESS = 0x01D8
    STRING_SIZE = 64


class SBRM:
    """USB3 Vision bootstrap registers (offsets from the SBRM address)."""

    MAX_CMD_TRANSFER, MAX_ACK_TRANSFER = 0x14, 0x18
    SIRM_ADDRESS = 0x20


class SIRM:
    """Stream interface registers (offsets from the SIRM address)."""

    INFO, CONTROL = 0x00, 0x04
    REQUIRED_PAYLOAD, REQUIRED_LEADER, REQUIRED_TRAILER = 0x08, 0x10, 0x14
    MAX_LEADER, PAYLOAD_SIZE, PAYLOAD_COUNT = 0x18, 0x1C, 0x20
    TRANSFER1, TRANSFER2, MAX_TRAILER = 0x24, 0x28, 0x2C


class U3VProtocolError(TransportError, ProtocolError):
    """Bytes on a U3V endpoint that are not a valid packet (bad magic, short, inconsistent)."""


@dataclass(frozen=True)
class Ack:
    """A decoded control acknowledgement."""

    status: int
    command: int
    request_id: int
    payload: bytes


@dataclass(frozen=True)
class Command:
    """A decoded control command (device side): READMEM has ``size``, WRITEMEM ``data``."""

    flags: int
    command: int
    request_id: int
    address: int
    size: int = 0
    data: bytes = b""


def encode_read(request_id: int, address: int, size: int, resend: bool = False) -> bytes:
    """Encode READMEM: address u64, reserved u16, size u16."""
    flags = FLAG_REQUEST_ACK | (FLAG_RESEND if resend else 0)
    return _HEADER.pack(PREFIX, flags, CMD_READMEM, 12, request_id) + struct.pack(
        "<QHH", address, 0, size
    )


def encode_write(request_id: int, address: int, data: bytes, resend: bool = False) -> bytes:
    """Encode WRITEMEM: address u64 followed by the data."""
    flags = FLAG_REQUEST_ACK | (FLAG_RESEND if resend else 0)
    header = _HEADER.pack(PREFIX, flags, CMD_WRITEMEM, 8 + len(data), request_id)
    return header + struct.pack("<Q", address) + bytes(data)


def decode_ack(data: bytes) -> Ack:
    """Decode an acknowledgement.

    Raises
    ------
    U3VProtocolError
        Short, wrong prefix, or a length field that disagrees with the bytes.
    """
    if len(data) < _HEADER.size:
        raise U3VProtocolError(f"U3V ack of {len(data)} bytes is shorter than its header")
    prefix, status, command, length, request_id = _HEADER.unpack_from(data)
    if prefix != PREFIX:
        raise U3VProtocolError(f"U3V ack prefix 0x{prefix:08x} is not U3VC")
    if len(data) - _HEADER.size != length:
        raise U3VProtocolError(f"U3V ack says {length} bytes, carries {len(data) - _HEADER.size}")
    return Ack(status, command, request_id, bytes(data[_HEADER.size :]))


def encode_ack(status: int, command: int, request_id: int, payload: bytes = b"") -> bytes:
    """Encode an acknowledgement (device side)."""
    return _HEADER.pack(PREFIX, status, command, len(payload), request_id) + payload


def decode_command(data: bytes) -> Command:
    """Decode a READMEM / WRITEMEM command (device side).

    Raises
    ------
    U3VProtocolError
        Not a well-formed READMEM or WRITEMEM.
    """
    if len(data) < _HEADER.size + 8:
        raise U3VProtocolError(f"U3V command of {len(data)} bytes is too short")
    prefix, flags, command, length, request_id = _HEADER.unpack_from(data)
    body = bytes(data[_HEADER.size :])
    if prefix != PREFIX or len(body) != length:
        raise U3VProtocolError("U3V command with a bad prefix or length")
    (address,) = struct.unpack_from("<Q", body)
    if command == CMD_READMEM and length == 12:
        _, size = struct.unpack_from("<HH", body, 8)
        return Command(flags, command, request_id, address, size=size)
    if command == CMD_WRITEMEM:
        return Command(flags, command, request_id, address, data=body[8:])
    raise U3VProtocolError(f"unsupported U3V command 0x{command:04x}")


@dataclass(frozen=True)
class Leader:
    """Image leader of one stream block."""

    block_id: int
    payload_type: int
    timestamp: int
    pixel_format: int
    width: int
    height: int


@dataclass(frozen=True)
class Trailer:
    """Trailer of one stream block."""

    block_id: int
    status: int
    valid_payload: int


def encode_leader(leader: Leader) -> bytes:
    """Encode an image leader (52 bytes)."""
    return _LEADER.pack(
        LEADER_MAGIC, 0, LEADER_SIZE, leader.block_id, 0, leader.payload_type,
        leader.timestamp, leader.pixel_format, leader.width, leader.height, 0, 0, 0, 0,
    )  # fmt: skip


def decode_leader(data: bytes) -> Leader:
    """Decode an image leader.

    Raises
    ------
    U3VProtocolError
        Short or wrong magic.
    """
    if len(data) < LEADER_SIZE:
        raise U3VProtocolError(f"U3V leader of {len(data)} bytes (expected {LEADER_SIZE})")
    f = _LEADER.unpack_from(data)
    if f[0] != LEADER_MAGIC:
        raise U3VProtocolError(f"U3V leader magic 0x{f[0]:08x} is not U3VL")
    return Leader(block_id=f[3], payload_type=f[5], timestamp=f[6], pixel_format=f[7],
                  width=f[8], height=f[9])  # fmt: skip


def encode_trailer(trailer: Trailer) -> bytes:
    """Encode a trailer (28 bytes)."""
    return _TRAILER.pack(
        TRAILER_MAGIC, 0, TRAILER_SIZE, trailer.block_id, trailer.status, trailer.valid_payload
    )


def decode_trailer(data: bytes) -> Trailer:
    """Decode a trailer.

    Raises
    ------
    U3VProtocolError
        Short or wrong magic.
    """
    if len(data) < TRAILER_SIZE:
        raise U3VProtocolError(f"U3V trailer of {len(data)} bytes (expected {TRAILER_SIZE})")
    f = _TRAILER.unpack_from(data)
    if f[0] != TRAILER_MAGIC:
        raise U3VProtocolError(f"U3V trailer magic 0x{f[0]:08x} is not U3VT")
    return Trailer(block_id=f[3], status=f[4], valid_payload=f[5])


@dataclass(frozen=True)
class StreamLayout:
    """How one block is cut into bulk transfers (SIRM host-written registers), in bytes."""

    payload_size: int
    payload_count: int
    transfer1: int
    transfer2: int
    leader_size: int
    trailer_size: int

    @property
    def payload_bytes(self) -> int:
        """Bytes of payload the transfers can carry."""
        return self.payload_size * self.payload_count + self.transfer1 + self.transfer2


def plan_stream(
    required_payload: int, required_leader: int, required_trailer: int, alignment: int,
    max_transfer: int,
) -> StreamLayout:  # fmt: skip
    """Cut a block into transfers as aravis does (``src/arvuvstream.c``).

    ``payload_size`` is the largest multiple of ``alignment`` not above ``max_transfer``;
    the remainder goes into ``transfer1`` rounded up to the alignment.

    Raises
    ------
    ValueError
        Non-positive sizes or an alignment that is not a power of two.
    """
    if alignment <= 0 or alignment & (alignment - 1) or max_transfer < alignment:
        raise ValueError(f"bad alignment {alignment} or max transfer {max_transfer}")
    if required_payload <= 0:
        raise ValueError(f"required payload must be positive, got {required_payload}")

    def align(n: int) -> int:
        return (n + alignment - 1) // alignment * alignment

    payload_size = min(align(required_payload), max_transfer // alignment * alignment)
    count, rest = divmod(required_payload, payload_size)
    return StreamLayout(
        payload_size, count, align(rest) if rest else 0, 0,
        align(required_leader), align(required_trailer),
    )  # fmt: skip

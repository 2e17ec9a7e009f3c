"""GVCP (GigE Vision Control Protocol) packets: pure encode and decode, no I/O.

Layouts follow GigE Vision 2.x, "GVCP" (headers, command and acknowledge payloads), as
documented in ``gige-vision.md`` §1 from aravis' ``arvgvcpprivate.h`` and the Wireshark
dissector. All fields are big-endian. Every decoder validates lengths and codes and raises
:class:`~panelgate.drivers.gige.errors.ProtocolError` for anything malformed.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from .errors import ProtocolError

__all__ = [
    "ACK_REQUIRED",
    "ALLOW_BROADCAST_ACK",
    "EXTENDED_IDS",
    "GVCP_KEY",
    "MAX_PAYLOAD_BYTES",
    "MAX_READMEM_BYTES",
    "Ack",
    "Command",
    "CommandPacket",
    "ResendRequest",
    "Status",
    "decode_ack",
    "decode_command",
    "encode_ack",
    "encode_command",
    "parse_pending_ack",
    "parse_readmem_ack",
    "parse_readmem_cmd",
    "parse_readreg_ack",
    "parse_readreg_cmd",
    "parse_resend_cmd",
    "parse_write_ack",
    "parse_writemem_cmd",
    "parse_writereg_cmd",
    "pending_ack_payload",
    "readmem_ack_payload",
    "readmem_cmd_payload",
    "readreg_ack_payload",
    "readreg_cmd_payload",
    "resend_cmd_payload",
    "status_name",
    "write_ack_payload",
    "writemem_cmd_payload",
    "writereg_cmd_payload",
]

GVCP_KEY = 0x42  #: first byte of every command
ACK_REQUIRED = 0x01  #: command flag: the device must acknowledge
EXTENDED_IDS = 0x10  #: PACKETRESEND flag: 64-bit block id, 32-bit packet ids
ALLOW_BROADCAST_ACK = 0x10  #: DISCOVERY flag
MAX_PAYLOAD_BYTES = 540  #: 576 - IP 20 - UDP 8 - GVCP 8; datagrams are never fragmented
MAX_READMEM_BYTES = 512  #: largest READMEM/WRITEMEM data block (aravis ARV_GVCP_DATA_SIZE_MAX)

_HEADER = struct.Struct(">BBHHH")
_ACK_HEADER = struct.Struct(">HHHH")
_U32 = struct.Struct(">I")


class Command(enum.IntEnum):
    """GVCP command codes; the acknowledge code is the command code + 1."""

    DISCOVERY = 0x0002
    FORCEIP = 0x0004
    PACKETRESEND = 0x0040
    READREG = 0x0080
    WRITEREG = 0x0082
    READMEM = 0x0084
    WRITEMEM = 0x0086
    PENDING = 0x0088  #: acknowledge 0x0089 is PENDING_ACK
    EVENT = 0x00C0
    EVENTDATA = 0x00C2
    ACTION = 0x0100


class Status(enum.IntEnum):
    """GVCP/GVSP status codes (GigE Vision 2.x, "Status Codes"); ``status & 0x8000`` is an error."""

    SUCCESS = 0x0000
    PACKET_RESEND = 0x0100
    NOT_IMPLEMENTED = 0x8001
    INVALID_PARAMETER = 0x8002
    INVALID_ADDRESS = 0x8003
    WRITE_PROTECT = 0x8004
    BAD_ALIGNMENT = 0x8005
    ACCESS_DENIED = 0x8006
    BUSY = 0x8007
    PACKET_UNAVAILABLE = 0x800C
    DATA_OVERRUN = 0x800D
    INVALID_HEADER = 0x800E
    PACKET_NOT_YET_AVAILABLE = 0x8010
    PACKET_REMOVED_FROM_MEMORY = 0x8012
    ERROR = 0x8FFF


def status_name(status: int) -> str:
    """Return the name of a status code, or its hex value when unknown."""
    try:
        return Status(status).name
    except ValueError:
        return f"0x{status:04X}"


@dataclass(frozen=True)
class CommandPacket:
    """A decoded GVCP command: flags, code, request id and payload bytes."""

    flags: int
    command: int
    req_id: int
    payload: bytes


@dataclass(frozen=True)
class Ack:
    """A decoded GVCP acknowledge: status, acknowledge code, id and payload bytes."""

    status: int
    ack: int
    ack_id: int
    payload: bytes

    @property
    def is_error(self) -> bool:
        """True when the status has bit 15 set."""
        return bool(self.status & 0x8000)


@dataclass(frozen=True)
class ResendRequest:
    """A PACKETRESEND: packets ``first..last`` (inclusive) of ``block_id`` on a stream channel."""

    channel: int
    block_id: int
    first_packet_id: int
    last_packet_id: int
    extended: bool = False


# -- headers ---------------------------------------------------------------------------------
def encode_command(
    command: int, req_id: int, payload: bytes = b"", flags: int = ACK_REQUIRED
) -> bytes:
    """Encode a command: key 0x42, flags, code, payload length, request id, payload.

    Raises
    ------
    ValueError
        A field is out of range or the payload exceeds one datagram.
    """
    if not 0 <= command <= 0xFFFF or not 0 < req_id <= 0xFFFF or not 0 <= flags <= 0xFF:
        raise ValueError(f"bad GVCP header fields: command={command} req_id={req_id} flags={flags}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"GVCP payload of {len(payload)} B exceeds {MAX_PAYLOAD_BYTES} B")
    return _HEADER.pack(GVCP_KEY, flags, command, len(payload), req_id) + payload


def decode_command(data: bytes) -> CommandPacket:
    """Decode and validate a command packet.

    Raises
    ------
    ProtocolError
        Too short, wrong key, or a length field that disagrees with the datagram.
    """
    if len(data) < _HEADER.size:
        raise ProtocolError(f"GVCP command of {len(data)} B is shorter than its 8-byte header")
    key, flags, command, length, req_id = _HEADER.unpack_from(data)
    if key != GVCP_KEY:
        raise ProtocolError(f"GVCP command key is 0x{key:02X}, expected 0x42")
    if length != len(data) - _HEADER.size:
        raise ProtocolError(
            f"GVCP command length field says {length} B, datagram carries {len(data) - 8} B"
        )
    return CommandPacket(flags, command, req_id, bytes(data[_HEADER.size :]))


def encode_ack(status: int, ack: int, ack_id: int, payload: bytes = b"") -> bytes:
    """Encode an acknowledge: status, acknowledge code, payload length, ack id, payload."""
    return _ACK_HEADER.pack(status, ack, len(payload), ack_id) + payload


def decode_ack(data: bytes) -> Ack:
    """Decode and validate an acknowledge packet.

    Raises
    ------
    ProtocolError
        Too short, or a length field that disagrees with the datagram.
    """
    if len(data) < _ACK_HEADER.size:
        raise ProtocolError(f"GVCP acknowledge of {len(data)} B is shorter than 8 B")
    status, ack, length, ack_id = _ACK_HEADER.unpack_from(data)
    if length > len(data) - _ACK_HEADER.size:
        raise ProtocolError(
            f"GVCP acknowledge length field says {length} B, datagram carries {len(data) - 8} B"
        )
    return Ack(status, ack, ack_id, bytes(data[_ACK_HEADER.size : _ACK_HEADER.size + length]))


# -- payloads --------------------------------------------------------------------------------
def _check_aligned(address: int) -> None:
    if address % 4 or not 0 <= address <= 0xFFFFFFFF:
        raise ValueError(f"register address 0x{address:X} is not a 4-byte aligned u32")


def readreg_cmd_payload(addresses: list[int]) -> bytes:
    """READREG payload: N addresses (at most 135)."""
    if not 0 < len(addresses) <= MAX_PAYLOAD_BYTES // 4:
        raise ValueError(f"READREG takes 1-135 addresses, got {len(addresses)}")
    for address in addresses:
        _check_aligned(address)
    return struct.pack(f">{len(addresses)}I", *addresses)


def _u32_list(payload: bytes, what: str) -> list[int]:
    if not payload or len(payload) % 4:
        raise ProtocolError(f"{what} payload of {len(payload)} B is not a non-empty multiple of 4")
    return list(struct.unpack(f">{len(payload) // 4}I", payload))


def parse_readreg_cmd(payload: bytes) -> list[int]:
    """Addresses of a READREG command."""
    return _u32_list(payload, "READREG")


def readreg_ack_payload(values: list[int]) -> bytes:
    """READREG acknowledge payload: N values."""
    return struct.pack(f">{len(values)}I", *values)


def parse_readreg_ack(payload: bytes, count: int) -> list[int]:
    """Values of a READREG acknowledge, which must hold ``count`` of them."""
    values = _u32_list(payload, "READREG acknowledge")
    if len(values) != count:
        raise ProtocolError(f"READREG acknowledge holds {len(values)} values, expected {count}")
    return values


def writereg_cmd_payload(pairs: list[tuple[int, int]]) -> bytes:
    """WRITEREG payload: N (address, value) pairs (at most 67)."""
    if not 0 < len(pairs) <= MAX_PAYLOAD_BYTES // 8:
        raise ValueError(f"WRITEREG takes 1-67 pairs, got {len(pairs)}")
    out = bytearray()
    for address, value in pairs:
        _check_aligned(address)
        out += struct.pack(">II", address, value & 0xFFFFFFFF)
    return bytes(out)


def parse_writereg_cmd(payload: bytes) -> list[tuple[int, int]]:
    """(address, value) pairs of a WRITEREG command."""
    if not payload or len(payload) % 8:
        raise ProtocolError(f"WRITEREG payload of {len(payload)} B is not a multiple of 8")
    words = _u32_list(payload, "WRITEREG")
    return list(zip(words[0::2], words[1::2], strict=True))


def write_ack_payload(index: int) -> bytes:
    """WRITEREG/WRITEMEM acknowledge payload: reserved u16 + index u16."""
    return struct.pack(">HH", 0, index & 0xFFFF)


def parse_write_ack(payload: bytes) -> int:
    """Index (registers written) of a WRITEREG acknowledge."""
    if len(payload) != 4:
        raise ProtocolError(f"write acknowledge payload is {len(payload)} B, expected 4")
    return int(struct.unpack(">HH", payload)[1])


def readmem_cmd_payload(address: int, count: int) -> bytes:
    """READMEM payload: address, reserved u16, count u16 (multiple of 4, at most 512)."""
    _check_aligned(address)
    if count % 4 or not 0 < count <= MAX_READMEM_BYTES:
        raise ValueError(f"READMEM count must be a multiple of 4 in 4..512, got {count}")
    return struct.pack(">IHH", address, 0, count)


def parse_readmem_cmd(payload: bytes) -> tuple[int, int]:
    """(address, count) of a READMEM command."""
    if len(payload) != 8:
        raise ProtocolError(f"READMEM payload is {len(payload)} B, expected 8")
    address, _, count = struct.unpack(">IHH", payload)
    return int(address), int(count)


def readmem_ack_payload(address: int, data: bytes) -> bytes:
    """READMEM acknowledge payload: address + data."""
    return _U32.pack(address) + data


def parse_readmem_ack(payload: bytes, address: int, count: int) -> bytes:
    """Return the data of a READMEM acknowledge, checked against the address and size."""
    if len(payload) != 4 + count:
        raise ProtocolError(f"READMEM acknowledge holds {len(payload) - 4} B, expected {count}")
    (echoed,) = _U32.unpack_from(payload)
    if echoed != address:
        raise ProtocolError(f"READMEM acknowledge for 0x{echoed:X}, asked for 0x{address:X}")
    return payload[4:]


def writemem_cmd_payload(address: int, data: bytes) -> bytes:
    """WRITEMEM payload: address + data (multiple of 4, at most 512 bytes)."""
    _check_aligned(address)
    if len(data) % 4 or not 0 < len(data) <= MAX_READMEM_BYTES:
        raise ValueError(f"WRITEMEM data must be a multiple of 4 in 4..512 B, got {len(data)}")
    return _U32.pack(address) + data


def parse_writemem_cmd(payload: bytes) -> tuple[int, bytes]:
    """(address, data) of a WRITEMEM command."""
    if len(payload) < 8 or len(payload) % 4:
        raise ProtocolError(f"WRITEMEM payload of {len(payload)} B is not address + 4n bytes")
    return int(_U32.unpack_from(payload)[0]), payload[4:]


def pending_ack_payload(time_to_completion_ms: int) -> bytes:
    """PENDING_ACK payload: reserved u16 + time to completion u16 in ms."""
    return struct.pack(">HH", 0, max(0, min(time_to_completion_ms, 0xFFFF)))


def parse_pending_ack(payload: bytes) -> int:
    """Time to completion in ms of a PENDING_ACK."""
    if len(payload) != 4:
        raise ProtocolError(f"PENDING_ACK payload is {len(payload)} B, expected 4")
    return int(struct.unpack(">HH", payload)[1])


def resend_cmd_payload(request: ResendRequest) -> bytes:
    """PACKETRESEND payload, standard (12 B) or extended (20 B, flag ``EXTENDED_IDS``)."""
    if request.extended:
        return struct.pack(
            ">HHIIII",
            request.channel,
            0,
            request.first_packet_id,
            request.last_packet_id,
            request.block_id >> 32,
            request.block_id & 0xFFFFFFFF,
        )
    return struct.pack(
        ">HHII",
        request.channel,
        request.block_id & 0xFFFF,
        request.first_packet_id & 0xFFFFFF,
        request.last_packet_id & 0xFFFFFF,
    )


def parse_resend_cmd(payload: bytes, flags: int) -> ResendRequest:
    """Decode a PACKETRESEND payload; ``flags`` of the command say whether ids are extended."""
    if flags & EXTENDED_IDS:
        if len(payload) != 20:
            raise ProtocolError(f"extended PACKETRESEND payload is {len(payload)} B, expected 20")
        channel, _, first, last, high, low = struct.unpack(">HHIIII", payload)
        request = ResendRequest(channel, high << 32 | low, first, last, extended=True)
    else:
        if len(payload) != 12:
            raise ProtocolError(f"PACKETRESEND payload is {len(payload)} B, expected 12")
        channel, block, first, last = struct.unpack(">HHII", payload)
        request = ResendRequest(channel, block, first & 0xFFFFFF, last & 0xFFFFFF)
    if request.first_packet_id > request.last_packet_id:
        raise ProtocolError(
            f"PACKETRESEND range {request.first_packet_id}..{request.last_packet_id} is reversed"
        )
    return request

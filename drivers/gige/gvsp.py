"""GVSP (GigE Vision Streaming Protocol) packets: pure encode and decode, no I/O.

Layouts follow GigE Vision 2.x, "GVSP" (standard 8-byte and extended 20-byte headers,
image leader, trailer), as documented in ``gige-vision.md`` §2 from aravis'
``arvgvspprivate.h``. A block (one frame) is: leader (packet id 0), payload packets
1..N, trailer (packet id N + 1). Decoders raise
:class:`~panelgate.drivers.gige.errors.ProtocolError` for anything malformed.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from .errors import ProtocolError

__all__ = [
    "EXTENDED_HEADER_BYTES",
    "IP_UDP_HEADER_BYTES",
    "PAYLOAD_TYPE_IMAGE",
    "STANDARD_HEADER_BYTES",
    "ContentType",
    "GvspHeader",
    "ImageLeader",
    "PixelFormat",
    "Trailer",
    "decode_header",
    "decode_image_leader",
    "decode_trailer",
    "encode_header",
    "encode_image_leader",
    "encode_trailer",
    "payload_bytes_per_packet",
]

STANDARD_HEADER_BYTES = 8
EXTENDED_HEADER_BYTES = 20
IP_UDP_HEADER_BYTES = 28  #: IPv4 20 + UDP 8: counted in the SCPS packet size
PAYLOAD_TYPE_IMAGE = 0x0001

_STD = struct.Struct(">HHI")
_EXT = struct.Struct(">HHIQI")
_LEADER = struct.Struct(">HHIIIIIIIHH")
_TRAILER = struct.Struct(">II")
_EI_FLAG = 0x80000000


class ContentType(enum.IntEnum):
    """Packet content types (bits 24-30 of ``packet_infos``)."""

    LEADER = 1
    TRAILER = 2
    PAYLOAD = 3
    ALL_IN = 4
    H264 = 5
    MULTIZONE = 6
    MULTIPART = 7
    GENDC = 8


class PixelFormat(enum.IntEnum):
    """PFNC pixel formats used here; bits 16-23 give the bits per pixel."""

    MONO8 = 0x01080001
    MONO12 = 0x01100005
    MONO14 = 0x01100025
    MONO16 = 0x01100007

    @property
    def bytes_per_pixel(self) -> int:
        """Bytes per pixel in the stream (Mono12/14 are sent unpacked in 16 bits)."""
        return (self.value >> 16 & 0xFF) // 8


@dataclass(frozen=True)
class GvspHeader:
    """A decoded GVSP header; ``size_bytes`` is 8 (standard) or 20 (extended ids)."""

    status: int
    block_id: int
    content_type: int
    packet_id: int
    extended: bool

    @property
    def size_bytes(self) -> int:
        """Header length, the offset of the packet's data."""
        return EXTENDED_HEADER_BYTES if self.extended else STANDARD_HEADER_BYTES


@dataclass(frozen=True)
class ImageLeader:
    """The image leader's fields (payload type 0x0001)."""

    timestamp_ticks: int
    pixel_format: int
    width: int
    height: int
    offset_x: int = 0
    offset_y: int = 0
    padding_x: int = 0
    padding_y: int = 0
    payload_type: int = PAYLOAD_TYPE_IMAGE


@dataclass(frozen=True)
class Trailer:
    """The trailer's fields: payload type and the number of lines actually sent."""

    payload_type: int
    size_y: int


def payload_bytes_per_packet(packet_size_bytes: int, extended: bool = False) -> int:
    """Image bytes per payload packet for an SCPS packet size (IP, UDP and GVSP headers off)."""
    header = EXTENDED_HEADER_BYTES if extended else STANDARD_HEADER_BYTES
    return packet_size_bytes - IP_UDP_HEADER_BYTES - header


def encode_header(
    status: int, block_id: int, content_type: int, packet_id: int, extended: bool = False
) -> bytes:
    """Encode a standard (16-bit block, 24-bit packet id) or extended header."""
    if extended:
        return _EXT.pack(status, 0, _EI_FLAG | content_type << 24, block_id, packet_id)
    if not 0 <= block_id <= 0xFFFF or not 0 <= packet_id <= 0xFFFFFF:
        raise ValueError(f"standard GVSP ids out of range: block {block_id}, packet {packet_id}")
    return _STD.pack(status, block_id, content_type << 24 | packet_id)


def decode_header(data: bytes | bytearray | memoryview) -> GvspHeader:
    """Decode and validate a GVSP header.

    Raises
    ------
    ProtocolError
        Too short for its header kind, unknown content type, or block id 0.
    """
    if len(data) < STANDARD_HEADER_BYTES:
        raise ProtocolError(f"GVSP packet of {len(data)} B is shorter than 8 B")
    status, block16, infos = _STD.unpack_from(data)
    content = infos >> 24 & 0x7F
    if infos & _EI_FLAG:
        if len(data) < EXTENDED_HEADER_BYTES:
            raise ProtocolError(f"extended GVSP packet of {len(data)} B is shorter than 20 B")
        _, _, _, block_id, packet_id = _EXT.unpack_from(data)
        header = GvspHeader(status, block_id, content, packet_id, True)
    else:
        header = GvspHeader(status, block16, content, infos & 0xFFFFFF, False)
    if content not in _CONTENT_TYPES:
        raise ProtocolError(f"GVSP content type {content} is unknown")
    if header.block_id == 0:
        raise ProtocolError("GVSP block id 0 is invalid")
    return header


_CONTENT_TYPES = frozenset(int(c) for c in ContentType)


def encode_image_leader(leader: ImageLeader) -> bytes:
    """Encode an image leader's 36 bytes."""
    return _LEADER.pack(
        0,
        leader.payload_type,
        leader.timestamp_ticks >> 32 & 0xFFFFFFFF,
        leader.timestamp_ticks & 0xFFFFFFFF,
        leader.pixel_format,
        leader.width,
        leader.height,
        leader.offset_x,
        leader.offset_y,
        leader.padding_x,
        leader.padding_y,
    )


def decode_image_leader(data: bytes | bytearray | memoryview) -> ImageLeader:
    """Decode an image leader (the bytes after the GVSP header).

    Raises
    ------
    ProtocolError
        Too short, not an image payload, or zero width/height.
    """
    if len(data) < _LEADER.size:
        raise ProtocolError(f"GVSP leader of {len(data)} B is shorter than {_LEADER.size} B")
    _, ptype, t_hi, t_lo, fmt, width, height, ox, oy, px, py = _LEADER.unpack_from(data)
    if ptype != PAYLOAD_TYPE_IMAGE:
        raise ProtocolError(f"GVSP leader payload type 0x{ptype:04X} is not image (0x0001)")
    if width == 0 or height == 0:
        raise ProtocolError(f"GVSP leader announces an empty image {width}x{height}")
    return ImageLeader(t_hi << 32 | t_lo, fmt, width, height, ox, oy, px, py, ptype)


def encode_trailer(trailer: Trailer) -> bytes:
    """Encode a trailer's 8 bytes."""
    return _TRAILER.pack(trailer.payload_type, trailer.size_y)


def decode_trailer(data: bytes | bytearray | memoryview) -> Trailer:
    """Decode a trailer (the bytes after the GVSP header).

    Raises
    ------
    ProtocolError
        Shorter than 8 bytes.
    """
    if len(data) < _TRAILER.size:
        raise ProtocolError(f"GVSP trailer of {len(data)} B is shorter than 8 B")
    ptype, size_y = _TRAILER.unpack_from(data)
    return Trailer(ptype, size_y)

"""U3V / GenCP packets from bytes (no I/O)."""

from __future__ import annotations

import struct

import pytest

from panelgate.drivers.u3v.protocol import (
    ACK_READMEM,
    CMD_READMEM,
    CMD_WRITEMEM,
    FLAG_REQUEST_ACK,
    FLAG_RESEND,
    LEADER_SIZE,
    MONO16,
    TRAILER_SIZE,
    Leader,
    StreamLayout,
    Trailer,
    U3VProtocolError,
    decode_ack,
    decode_command,
    decode_leader,
    decode_trailer,
    encode_ack,
    encode_leader,
    encode_read,
    encode_trailer,
    encode_write,
    plan_stream,
)


def test_readmem_bytes_match_the_layout() -> None:
    data = encode_read(65300, 0x1D8, 8)
    assert data[:4] == b"U3VC"
    assert struct.unpack("<IHHHH", data[:12]) == (
        0x43563355,
        FLAG_REQUEST_ACK,
        CMD_READMEM,
        12,
        65300,
    )
    assert struct.unpack("<QHH", data[12:]) == (0x1D8, 0, 8)
    resent = encode_read(7, 0, 4, resend=True)
    assert struct.unpack_from("<H", resent, 4)[0] == FLAG_REQUEST_ACK | FLAG_RESEND


def test_writemem_round_trips_on_the_device_side() -> None:
    cmd = decode_command(encode_write(9, 0x20008, b"\x00\x01\x00\x00"))
    assert (cmd.command, cmd.request_id, cmd.address, cmd.data) == (
        CMD_WRITEMEM,
        9,
        0x20008,
        b"\0\1\0\0",
    )
    cmd = decode_command(encode_read(10, 0x44, 64))
    assert (cmd.command, cmd.size) == (CMD_READMEM, 64)


def test_ack_decode_and_errors() -> None:
    ack = decode_ack(encode_ack(0, ACK_READMEM, 65535, b"abcd"))
    assert (ack.status, ack.command, ack.request_id, ack.payload) == (
        0,
        ACK_READMEM,
        65535,
        b"abcd",
    )
    with pytest.raises(U3VProtocolError, match="shorter"):
        decode_ack(b"U3VC")
    with pytest.raises(U3VProtocolError, match="not U3VC"):
        decode_ack(b"XXXX" + bytes(8))
    with pytest.raises(U3VProtocolError, match="says 4 bytes"):
        decode_ack(encode_ack(0, ACK_READMEM, 1, b"abcd")[:-1])


def test_leader_and_trailer_round_trip() -> None:
    leader = Leader(
        block_id=2**40, payload_type=1, timestamp=123, pixel_format=MONO16, width=3072, height=3072
    )
    data = encode_leader(leader)
    assert len(data) == LEADER_SIZE == 52 and data[:4] == b"U3VL"
    assert decode_leader(data) == leader
    trailer = Trailer(block_id=5, status=0, valid_payload=18874368)
    data = encode_trailer(trailer)
    assert len(data) == TRAILER_SIZE and data[:4] == b"U3VT"
    assert decode_trailer(data) == trailer
    with pytest.raises(U3VProtocolError, match="U3VL"):
        decode_leader(encode_trailer(trailer) + bytes(30))
    with pytest.raises(U3VProtocolError, match="trailer of 3 bytes"):
        decode_trailer(b"U3V")


def test_stream_plan_like_aravis() -> None:
    lay = plan_stream(3072 * 3072 * 2, 52, 28, alignment=8, max_transfer=1 << 20)
    assert lay == StreamLayout(1 << 20, 18, 0, 0, 56, 32)
    lay = plan_stream(1000, 52, 28, alignment=8, max_transfer=256)
    assert (lay.payload_size, lay.payload_count, lay.transfer1) == (256, 3, 232)
    assert lay.payload_bytes >= 1000
    with pytest.raises(ValueError, match="alignment"):
        plan_stream(1000, 52, 28, alignment=6, max_transfer=256)

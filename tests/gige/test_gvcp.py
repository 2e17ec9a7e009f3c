"""GVCP encode/decode from bytes (layouts: shared/reference/gige-vision.md §1), plus fuzzing."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panelgate.drivers.gige import gvcp
from panelgate.drivers.gige.discovery import parse_discovery_ack
from panelgate.drivers.gige.errors import ProtocolError
from panelgate.drivers.gige.gvcp import Command, ResendRequest, Status


def test_readreg_command_bytes() -> None:
    packet = gvcp.encode_command(
        Command.READREG, 0x1234, gvcp.readreg_cmd_payload([0x0A00, 0x0938])
    )
    assert packet == bytes.fromhex("42 01 0080 0008 1234 00000A00 00000938")
    decoded = gvcp.decode_command(packet)
    assert (decoded.flags, decoded.command, decoded.req_id) == (1, 0x80, 0x1234)
    assert gvcp.parse_readreg_cmd(decoded.payload) == [0x0A00, 0x0938]


def test_ack_bytes_and_error_status() -> None:
    ack = gvcp.decode_ack(bytes.fromhex("0000 0081 0004 1234 00000002"))
    assert (ack.status, ack.ack, ack.ack_id, ack.is_error) == (0, 0x81, 0x1234, False)
    assert gvcp.parse_readreg_ack(ack.payload, 1) == [2]
    error = gvcp.decode_ack(bytes.fromhex("8006 0083 0000 0007"))
    assert error.is_error and gvcp.status_name(error.status) == "ACCESS_DENIED"
    assert gvcp.status_name(0x8ABC) == "0x8ABC"


def test_writereg_readmem_writemem_pending_roundtrips() -> None:
    pairs = [(0x0A00, 2), (0x0D00, 50000)]
    assert gvcp.parse_writereg_cmd(gvcp.writereg_cmd_payload(pairs)) == pairs
    assert gvcp.parse_write_ack(gvcp.write_ack_payload(2)) == 2
    assert gvcp.readmem_cmd_payload(0x200, 512) == bytes.fromhex("00000200 0000 0200")
    assert gvcp.parse_readmem_cmd(gvcp.readmem_cmd_payload(0x200, 512)) == (0x200, 512)
    data = b"abcdefgh"
    assert gvcp.parse_readmem_ack(gvcp.readmem_ack_payload(0x200, data), 0x200, 8) == data
    assert gvcp.parse_writemem_cmd(gvcp.writemem_cmd_payload(0x10000, data)) == (0x10000, data)
    assert gvcp.parse_pending_ack(gvcp.pending_ack_payload(300)) == 300


def test_packetresend_standard_and_extended() -> None:
    std = ResendRequest(0, 0x0102, 5, 9)
    assert gvcp.resend_cmd_payload(std) == bytes.fromhex("0000 0102 00000005 00000009")
    assert gvcp.parse_resend_cmd(gvcp.resend_cmd_payload(std), 0) == std
    ext = ResendRequest(0, 0x1_0000_0002, 5, 70000, extended=True)
    payload = gvcp.resend_cmd_payload(ext)
    assert len(payload) == 20
    assert gvcp.parse_resend_cmd(payload, gvcp.EXTENDED_IDS) == ext


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x42\x01\x00", "shorter"),
        (bytes.fromhex("41 01 0080 0000 0001"), "key"),
        (bytes.fromhex("42 01 0080 0008 0001 00000000"), "length field"),
    ],
)
def test_bad_commands_are_protocol_errors(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as excinfo:
        gvcp.decode_command(data)
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    "call",
    [
        lambda: gvcp.parse_readreg_cmd(b"\0\0\0"),
        lambda: gvcp.parse_readreg_ack(b"\0" * 8, 1),
        lambda: gvcp.parse_writereg_cmd(b"\0" * 12),
        lambda: gvcp.parse_readmem_ack(b"\0\0\x02\0" + b"\0" * 4, 0x204, 4),
        lambda: gvcp.parse_resend_cmd(b"\0" * 11, 0),
        lambda: gvcp.parse_resend_cmd(struct.pack(">HHII", 0, 1, 9, 5), 0),
        lambda: gvcp.decode_ack(bytes.fromhex("0000 0081 0008 0001 00000000")),
        lambda: parse_discovery_ack(b"\0" * 100),
    ],
)
def test_bad_payloads_are_protocol_errors(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProtocolError):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: gvcp.encode_command(Command.READREG, 0, b""),
        lambda: gvcp.readreg_cmd_payload([0x2]),
        lambda: gvcp.readreg_cmd_payload([0] * 136),
        lambda: gvcp.readmem_cmd_payload(0, 513),
        lambda: gvcp.writemem_cmd_payload(0, b"abc"),
    ],
)
def test_encoders_refuse_what_the_wire_cannot_carry(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()


_PARSERS = [
    gvcp.decode_command,
    gvcp.decode_ack,
    gvcp.parse_readreg_cmd,
    gvcp.parse_writereg_cmd,
    gvcp.parse_readmem_cmd,
    gvcp.parse_writemem_cmd,
    gvcp.parse_pending_ack,
    gvcp.parse_write_ack,
    parse_discovery_ack,
    lambda b: gvcp.parse_resend_cmd(b, 0),
    lambda b: gvcp.parse_resend_cmd(b, gvcp.EXTENDED_IDS),
]

_VALID = [
    gvcp.encode_command(Command.READREG, 1, gvcp.readreg_cmd_payload([0, 4])),
    gvcp.encode_command(Command.WRITEMEM, 2, gvcp.writemem_cmd_payload(0x200, b"\0" * 8)),
    gvcp.encode_command(
        Command.PACKETRESEND, 3, gvcp.resend_cmd_payload(ResendRequest(0, 1, 1, 2)), 0
    ),
    gvcp.encode_ack(Status.SUCCESS, 0x85, 4, gvcp.readmem_ack_payload(0, b"\0" * 4)),
]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(0, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=8))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=600), _mutated()))
def test_fuzzed_gvcp_never_crashes_the_parsers(data: bytes) -> None:
    for parse in _PARSERS:
        try:
            parse(data)
        except ProtocolError:
            pass

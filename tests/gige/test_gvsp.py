"""GVSP encode/decode from bytes (layouts: shared/reference/gige-vision.md §2), plus fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panelgate.drivers.gige import gvsp
from panelgate.drivers.gige.errors import ProtocolError
from panelgate.drivers.gige.gvsp import ContentType, ImageLeader, PixelFormat, Trailer


def test_standard_header_bytes() -> None:
    raw = gvsp.encode_header(0x0100, 7, ContentType.PAYLOAD, 42)
    assert raw == bytes.fromhex("0100 0007 0300002A")
    header = gvsp.decode_header(raw)
    assert (header.status, header.block_id, header.content_type, header.packet_id) == (
        0x0100, 7, 3, 42,
    )  # fmt: skip
    assert header.size_bytes == 8 and not header.extended


def test_extended_header_bytes() -> None:
    raw = gvsp.encode_header(0, 1 << 40, ContentType.TRAILER, 1 << 25, extended=True)
    assert len(raw) == 20 and raw[4] & 0x80
    header = gvsp.decode_header(raw)
    assert (header.block_id, header.packet_id, header.extended) == (1 << 40, 1 << 25, True)


def test_leader_and_trailer_roundtrip() -> None:
    leader = ImageLeader(123456789012, PixelFormat.MONO16, 3072, 3072, 8, 16)
    raw = gvsp.encode_image_leader(leader)
    assert len(raw) == 36 and raw[12:16] == bytes.fromhex("01100007")
    assert gvsp.decode_image_leader(raw) == leader
    assert gvsp.decode_trailer(gvsp.encode_trailer(Trailer(1, 3072))) == Trailer(1, 3072)
    assert PixelFormat.MONO14.bytes_per_pixel == 2
    assert gvsp.payload_bytes_per_packet(1500) == 1464


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\0" * 7, "shorter than 8"),
        (bytes.fromhex("0000 0000 03000001"), "block id 0"),
        (bytes.fromhex("0000 0001 09000001"), "content type 9"),
        (bytes.fromhex("0000 0001 83000001") + b"\0" * 4, "shorter than 20"),
    ],
)
def test_bad_headers_are_protocol_errors(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        gvsp.decode_header(data)


def test_bad_leaders_are_protocol_errors() -> None:
    good = gvsp.encode_image_leader(ImageLeader(0, PixelFormat.MONO16, 4, 4))
    with pytest.raises(ProtocolError, match="shorter"):
        gvsp.decode_image_leader(good[:20])
    with pytest.raises(ProtocolError, match="not image"):
        gvsp.decode_image_leader(good[:2] + b"\x00\x04" + good[4:])
    with pytest.raises(ProtocolError, match="empty"):
        gvsp.decode_image_leader(gvsp.encode_image_leader(ImageLeader(0, PixelFormat.MONO16, 0, 4)))
    with pytest.raises(ProtocolError):
        gvsp.decode_trailer(b"\0" * 4)


_VALID = [
    gvsp.encode_header(0, 1, ContentType.LEADER, 0)
    + gvsp.encode_image_leader(ImageLeader(1, PixelFormat.MONO16, 8, 8)),
    gvsp.encode_header(0, 1, ContentType.PAYLOAD, 1) + b"\x01" * 64,
    gvsp.encode_header(0, 9, ContentType.TRAILER, 3, extended=True)
    + gvsp.encode_trailer(Trailer(1, 8)),
]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(0, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=100), _mutated()))
def test_fuzzed_gvsp_never_crashes_the_parsers(data: bytes) -> None:
    try:
        header = gvsp.decode_header(data)
    except ProtocolError:
        return
    body = data[header.size_bytes :]
    for parse in (gvsp.decode_image_leader, gvsp.decode_trailer):
        try:
            parse(body)
        except ProtocolError:
            pass

"""The generator line protocol, from bytes (no I/O)."""

from __future__ import annotations

import pytest

from panelgate.drivers.generator import (
    ExposureAborted,
    GeneratorProtocolError,
    InterlockOpen,
    TechniqueLimits,
    TechniqueOutOfRange,
    TubeOverheat,
)
from panelgate.drivers.generator.protocol import (
    MAX_LINE_BYTES,
    Command,
    Delivered,
    LineSplitter,
    decode_line,
    encode_line,
    fault_for,
    parse_command,
    parse_delivered,
    parse_limits,
)


def test_lines_split_at_cr_lf_and_crlf_and_keep_partial_lines() -> None:
    lines = LineSplitter()
    assert lines.feed(b"OK KV 120\r\nST RE") == [b"OK KV 120"]
    assert lines.feed(b"ADY\rEV READY\n") == [b"ST READY", b"EV READY"]
    assert lines.feed(b"") == []


def test_overlong_line_is_garbage_and_discarded() -> None:
    lines = LineSplitter()
    with pytest.raises(GeneratorProtocolError, match="without a line end"):
        lines.feed(b"A" * (MAX_LINE_BYTES + 1))
    assert lines.feed(b"OK EXP\n") == [b"OK EXP"]


@pytest.mark.parametrize(
    ("line", "kind", "name", "args"),
    [
        (b"OK KV 120", "OK", "KV", ("120",)),
        (b"ER 10 interlock open", "ER", "10", ("interlock open",)),
        (b"EV READY", "EV", "READY", ()),
        (b"ST EXPOSING", "VAL", "ST", ("EXPOSING",)),
    ],
)
def test_decode_known_shapes(line: bytes, kind: str, name: str, args: tuple[str, ...]) -> None:
    msg = decode_line(line)
    assert (msg.kind, msg.name, msg.args) == (kind, name, args)


@pytest.mark.parametrize("line", [b"\xff\xfe", b"HELLO", b"OK", b"ER x", b"KV\x01 3", b"   "])
def test_garbage_is_a_protocol_error(line: bytes) -> None:
    with pytest.raises(GeneratorProtocolError):
        decode_line(line)


def test_encode_refuses_line_breaks() -> None:
    assert encode_line("KV 120.0") == b"KV 120.0\r\n"
    with pytest.raises(ValueError, match="not a valid"):
        encode_line("KV 1\rEXP")


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        (b"kv 120.5", Command("KV", 120.5)),
        (b"ST?", Command("ST?")),
        (b"EXP", Command("EXP")),
        (b"MAS", (3, "MAS needs one number")),
        (b"EXP 3", (3, "EXP takes no value")),
        (b"FIRE", (2, "unknown command FIRE")),
        (b"\xff", (3, "non-ASCII command")),
    ],
)
def test_parse_command(line: bytes, parsed: object) -> None:
    assert parse_command(line) == parsed


def test_limits_round_trip_and_check() -> None:
    limits = TechniqueLimits()
    assert parse_limits(decode_line(limits.encode().encode())) == limits
    assert limits.check(kv=120, mas=2, ma=200) == pytest.approx(10.0)
    with pytest.raises(TechniqueOutOfRange, match=r"tube voltage 160 kV .* 40-150 kV"):
        limits.check(kv=160, mas=2, ma=200)
    with pytest.raises(TechniqueOutOfRange, match=r"needs 0\.5 ms"):
        limits.check(kv=120, mas=0.1, ma=200)


def test_delivered_round_trip() -> None:
    delivered = Delivered(kv=119.8, ma=201.2, ms=9.95, mas=2.002)
    assert parse_delivered(decode_line(delivered.encode().encode())) == delivered
    with pytest.raises(GeneratorProtocolError, match="without MAS"):
        parse_delivered(decode_line(b"EV DONE KV=1 MA=2 MS=3"))


@pytest.mark.parametrize(
    ("code", "cls"), [(10, InterlockOpen), (11, TubeOverheat), (12, ExposureAborted)]
)
def test_fault_codes_map_to_types(code: int, cls: type) -> None:
    fault = fault_for(code, "text")
    assert isinstance(fault, cls) and fault.code == code and f"E{code}" in str(fault)

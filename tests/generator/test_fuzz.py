"""Hypothesis byte streams into the generator protocol parsers: typed errors only, no hang."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from panelgate.drivers.generator import GeneratorClient, GeneratorError
from panelgate.drivers.generator.protocol import (
    Command,
    LineSplitter,
    decode_line,
    parse_command,
    parse_delivered,
)

_tokens = st.sampled_from(
    [b"OK ", b"ER ", b"EV ", b"DONE ", b"KV=", b"MAS=", b"1.5", b"\r", b"\n", b" ", b"ST ", b"12"]
)
_streams = st.lists(st.one_of(st.binary(max_size=40), _tokens), max_size=30).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(_streams)
def test_decoders_raise_only_typed_errors(data: bytes) -> None:
    lines = LineSplitter()
    try:
        for line in lines.feed(data):
            try:
                msg = decode_line(line)
                if msg.kind == "EV" and msg.name == "DONE":
                    parse_delivered(msg)
            except GeneratorError:
                pass
    except GeneratorError:
        pass
    result = parse_command(data)
    assert isinstance(result, Command | tuple)


@settings(max_examples=200, deadline=None)
@given(_streams)
def test_client_answers_with_typed_error_or_value(scripted_port: type[Any], answer: bytes) -> None:
    client = GeneratorClient("fake", timeout_s=0.01, open_port=lambda p, b: scripted_port(answer))
    with client:
        try:
            client.state()
            client.wait_done(0.01)
        except GeneratorError:
            pass

"""Hypothesis byte streams into the U3V parsers: U3VProtocolError or a value, never a crash."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from panelgate.drivers.u3v.protocol import (
    U3VProtocolError,
    decode_ack,
    decode_command,
    decode_leader,
    decode_trailer,
)

_prefixes = st.sampled_from([b"", b"U3VC", b"U3VL", b"U3VT", b"U3VC\x00\x00\x01\x08"])
_streams = st.tuples(_prefixes, st.binary(max_size=80)).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(_streams)
def test_parsers_raise_only_protocol_errors(data: bytes) -> None:
    for parse in (decode_ack, decode_command, decode_leader, decode_trailer):
        try:
            parse(data)
        except U3VProtocolError:
            pass

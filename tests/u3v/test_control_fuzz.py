"""Hypothesis acknowledgements into the GenCP control channel: typed errors, no hang."""

from __future__ import annotations

import errno

import usb.core
from hypothesis import given, settings
from hypothesis import strategies as st

from panelgate.drivers import DriverError
from panelgate.drivers.u3v.control import ControlChannel
from panelgate.drivers.u3v.protocol import ACK_PENDING, ACK_READMEM, encode_ack


class _Endpoints:
    """OUT records commands; IN plays back scripted acks, then times out."""

    def __init__(self, acks: list[bytes]) -> None:
        self.acks = acks
        self.written: list[bytes] = []

    def write(self, data: bytes, timeout: int) -> int:
        self.written.append(bytes(data))
        return len(data)

    def read(self, size: int, timeout: int) -> bytes:
        if not self.acks:
            raise usb.core.USBTimeoutError("timeout", errno=errno.ETIMEDOUT)
        return self.acks.pop(0)[:size]


_ack = st.builds(
    encode_ack,
    st.sampled_from([0, 0x8003, 0x8006]),
    st.sampled_from([ACK_READMEM, ACK_PENDING, 0x0803]),
    st.sampled_from([65300, 65301, 0, 7]),
    st.binary(max_size=8),
)
_acks = st.lists(st.one_of(_ack, st.binary(max_size=30)), max_size=6)


@settings(max_examples=200, deadline=None)
@given(_acks)
def test_any_ack_sequence_ends_in_data_or_a_typed_error(acks: list[bytes]) -> None:
    eps = _Endpoints(acks)
    channel = ControlChannel(eps, eps, timeout_s=0.01, retries=1)
    try:
        channel.read_mem(0x1000, 4)
    except DriverError:
        pass
    assert 1 <= len(eps.written) <= 2


def test_resend_sets_the_flag_and_keeps_the_request_id() -> None:
    eps = _Endpoints([])
    channel = ControlChannel(eps, eps, timeout_s=0.01, retries=2)
    try:
        channel.read_u32(0)
    except TimeoutError as exc:
        assert "3 tries" in str(exc)
    first, *resent = eps.written
    assert first[10:12] == resent[0][10:12] == resent[1][10:12]
    assert first[5] & 0x80 == 0 and resent[0][5] & 0x80

"""The simulator's GVSP stream as a bare receiver sees it: pacing, first frames, stop, fields.

A plain UDP socket takes the stream (no driver, no resends) with kernel receive timestamps,
so that timing checks do not depend on when this process gets the CPU. Only lower bounds
on time are asserted: a busy machine makes gaps longer, never shorter. Runs inside a
loopback-only namespace (see conftest.py).
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from panelgate.drivers.gige import GvcpClient, GvcpTiming, gvsp
from panelgate.drivers.gige import bootstrap as bs
from panelgate.drivers.gige.gvsp import ContentType
from panelgate.simulators.gige import GigESimulator, SimulatorConfig
from panelgate.simulators.gige.features import feature
from panelgate.simulators.gige.pacing import ETHERNET_OVERHEAD_BYTES

_SO_TIMESTAMPNS = 35  #: Linux; Python does not export it. Ancillary data: struct timespec
_TIMESPEC = struct.Struct("qq")
WIDTH, HEIGHT, PACKET_SIZE = 512, 512, 8192
PATIENT = GvcpTiming(ack_timeout_s=2.0, retries=2)


@dataclass(frozen=True)
class Packet:
    """One received GVSP packet and its kernel arrival time (s, CLOCK_REALTIME)."""

    t: float
    header: gvsp.GvspHeader
    body: bytes
    size: int  #: IP datagram bytes, as SCPS counts them


class Sink:
    """UDP socket receiving the stream in a thread, so that no frame overflows its buffer."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.packets: list[Packet] = []
        self._last_t = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, ancdata, _, _ = self.sock.recvmsg(65536, 64)
            except TimeoutError:
                continue
            sec, nsec = _TIMESPEC.unpack(ancdata[0][2][: _TIMESPEC.size])
            header = gvsp.decode_header(data)
            size = len(data) + gvsp.IP_UDP_HEADER_BYTES
            self.packets.append(Packet(sec + nsec * 1e-9, header, data[header.size_bytes :], size))
            self._last_t = time.monotonic()

    def wait_for_packets(self, count: int, timeout_s: float = 10.0) -> None:
        """Return once ``count`` packets have arrived."""
        deadline = time.monotonic() + timeout_s
        while len(self.packets) < count:
            assert time.monotonic() < deadline, f"{len(self.packets)} packets in {timeout_s} s"
            time.sleep(0.005)

    def drain(self, quiet_s: float = 0.3) -> list[Packet]:
        """Stop once nothing has arrived for ``quiet_s``; return every packet received."""
        while time.monotonic() - self._last_t < quiet_s:
            time.sleep(0.05)
        self._stop.set()
        self._thread.join()
        self.sock.close()
        return self.packets


def _frames(packets: list[Packet]) -> dict[int, list[Packet]]:
    frames: dict[int, list[Packet]] = {}
    for p in packets:
        frames.setdefault(p.header.block_id, []).append(p)
    return frames


@contextlib.contextmanager
def _streaming_to_sink(
    config: SimulatorConfig, timing: GvcpTiming = PATIENT
) -> Iterator[tuple[GigESimulator, GvcpClient, Sink]]:
    """A simulator under our control, streaming to a :class:`Sink` once started."""
    with GigESimulator(config) as sim:
        client = GvcpClient("127.0.0.1", sim.port, timing)
        sink = Sink()
        try:
            client.write_register(bs.REG_CCP, bs.CCP_CONTROL)
            ip = struct.unpack(">I", socket.inet_aton("127.0.0.1"))[0]
            client.write_registers(
                [(bs.REG_SCDA0, ip), (bs.REG_SCP0, sink.port), (bs.REG_SCPS0, PACKET_SIZE)]
            )
            yield sim, client, sink
        finally:
            sink.drain(0)
            client.close()


@pytest.fixture
def control() -> Iterator[tuple[GigESimulator, GvcpClient, Sink]]:
    with _streaming_to_sink(SimulatorConfig(port=0, width=WIDTH, height=HEIGHT)) as streaming:
        yield streaming


def _set_rate(client: GvcpClient, hz: float) -> None:
    client.write_memory(feature("AcquisitionFrameRate").address, struct.pack(">d", hz))


def _command(client: GvcpClient, name: str) -> None:
    client.write_register(feature(name).address, 1)


def _assert_complete(block: list[Packet]) -> None:
    n_payload = -(-WIDTH * HEIGHT * 2 // gvsp.payload_bytes_per_packet(PACKET_SIZE))
    ids = [p.header.packet_id for p in block]
    assert ids == list(range(n_payload + 2)), f"block {block[0].header.block_id}: {ids}"
    assert [p.header.content_type for p in (block[0], block[1], block[-1])] == [
        ContentType.LEADER, ContentType.PAYLOAD, ContentType.TRAILER,
    ]  # fmt: skip
    assert all(p.header.status == 0 for p in block)
    assert sum(len(p.body) for p in block[1:-1]) == WIDTH * HEIGHT * 2


def test_frames_are_complete_well_formed_and_paced_by_the_link(
    control: tuple[GigESimulator, GvcpClient, Sink],
) -> None:
    _, client, sink = control
    _set_rate(client, 20.0)
    _command(client, "AcquisitionStart")
    time.sleep(0.5)
    _command(client, "AcquisitionStop")
    frames = _frames(sink.drain())
    assert len(frames) >= 3
    assert sorted(frames) == list(range(1, len(frames) + 1))  # block ids from 1, no gaps
    stamps = []
    for block in frames.values():
        _assert_complete(block)
        assert max(p.size for p in block) <= PACKET_SIZE  # GevSCPSPacketSize is a maximum
        leader = gvsp.decode_image_leader(block[0].body)
        assert (leader.width, leader.height, leader.pixel_format) == (
            WIDTH, HEIGHT, gvsp.PixelFormat.MONO16,
        )  # fmt: skip
        trailer = gvsp.decode_trailer(block[-1].body)
        assert (trailer.payload_type, trailer.size_y) == (gvsp.PAYLOAD_TYPE_IMAGE, HEIGHT)
        stamps.append(leader.timestamp_ticks)
        # 1 Gb/s: the frame cannot arrive faster than the link carries it (less the burst
        # the sender may queue ahead), however fast loopback is.
        wire = sum(p.size + ETHERNET_OVERHEAD_BYTES for p in block[:-1])
        assert block[-1].t - block[0].t >= (wire - 64 * 1024) * 8 / 1e9 - 0.001
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


@pytest.mark.parametrize(
    "slow_call",
    [1, 3],  # the sender's preparation (frames 0 and 1 of the pool), the first frame's own
)
def test_a_slow_first_frame_does_not_send_the_second_right_behind_it(
    control: tuple[GigESimulator, GvcpClient, Sink], monkeypatch: pytest.MonkeyPatch, slow_call: int
) -> None:
    sim, client, sink = control
    source = sim._source
    original = source.frame
    calls = []

    def slow_first(index: int, geometry: object) -> bytes:
        calls.append(index)
        if len(calls) == slow_call:
            time.sleep(0.5)  # as drawing the pool on the first frame used to take
        return original(index, geometry)  # type: ignore[arg-type]

    monkeypatch.setattr(source, "frame", slow_first)
    _set_rate(client, 10.0)
    _command(client, "AcquisitionStart")
    time.sleep(1.2)
    _command(client, "AcquisitionStop")
    frames = _frames(sink.drain())
    assert len(frames) >= 3
    leaders = [frames[i][0].t for i in sorted(frames)]
    gaps = [b - a for a, b in itertools.pairwise(leaders)]
    assert min(gaps) >= 0.05 - 0.005, gaps  # at least half a period, never back to back


def test_acquisition_stop_finishes_the_frame_in_transmission_and_nothing_follows() -> None:
    config = SimulatorConfig(port=0, width=WIDTH, height=HEIGHT, link_speed_mbps=100)
    with _streaming_to_sink(config) as (_, client, sink):  # 100 Mb/s: 44 ms a frame on the wire
        _set_rate(client, 20.0)  # 50 ms period: the sender is mid-frame most of the time
        _command(client, "AcquisitionStart")
        time.sleep(0.33)
        _command(client, "AcquisitionStop")
        acked = time.time()
        frames = _whole_frames_none_after(sink.drain(), acked)
    assert len(frames) >= 2


def _whole_frames_none_after(packets: list[Packet], acked: float) -> dict[int, list[Packet]]:
    """Group ``packets`` by frame; every frame must be complete, none sent after ``acked``."""
    frames = _frames(packets)
    for block in frames.values():
        _assert_complete(block)
    assert max(p.t for p in packets) <= acked  # nothing after AcquisitionStop's acknowledge
    return frames


# 10 Mb/s: a 512² Mono16 frame is on the wire for about 0.43 s, far over the device's
# Pending Timeout (100 ms), so that a stop sent at the frame's first packet takes that long.
SLOW_LINK = SimulatorConfig(port=0, width=WIDTH, height=HEIGHT, link_speed_mbps=10)


def _stop_mid_frame(client: GvcpClient, sink: Sink) -> dict[int, list[Packet]]:
    """Stop at the first packet of the first frame; return the frames (see above)."""
    _command(client, "AcquisitionStart")
    sink.wait_for_packets(1)
    _command(client, "AcquisitionStop")
    acked = time.time()
    return _whole_frames_none_after(sink.drain(), acked)


def test_a_stop_mid_frame_is_announced_with_a_pending_ack_once_enabled() -> None:
    # One send, 0.1 s for its acknowledge: only the PENDING_ACK keeps the stop from failing.
    timing = GvcpTiming(ack_timeout_s=0.1, retries=1)
    with _streaming_to_sink(SLOW_LINK, timing) as (_, client, sink):
        assert client.read_register(bs.REG_GVCP_CAPABILITY) & bs.GVCP_CAP_PENDING_ACK
        assert client.read_register(bs.REG_PENDING_TIMEOUT) == 100
        client.write_register(bs.REG_GVCP_CONFIGURATION, bs.GVCP_CONFIG_PENDING_ACK)
        frames = _stop_mid_frame(client, sink)
    assert client.counters["pending_acks"] == 1
    assert len(frames) == 1  # the frame in transmission, finished, and no other


def test_without_pending_ack_enabled_a_slow_stop_is_acknowledged_late() -> None:
    with _streaming_to_sink(SLOW_LINK) as (_, client, sink):  # waits up to 2 s per ack
        frames = _stop_mid_frame(client, sink)
    assert client.counters["pending_acks"] == 0
    assert len(frames) == 1

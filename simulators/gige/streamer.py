"""GVSP sender of the simulated panel: packetises frames, keeps recent ones for resends.

One thread sends each frame as leader (packet id 0), payload packets 1..N and trailer
(N + 1) (GigE Vision 2.x, "GVSP"), timed by the frame rate or software triggers. Packets,
resends included, leave no faster than the device's link (1 Gb/s unless configured) plus
the inter-packet delay GevSCPD (timestamp ticks of 1 ns), see :mod:`.pacing`. Image data
is ready before the first frame is timed, so that frame is not late and the second not
sent right behind it. AcquisitionStop lets the frame in transmission finish, as a camera
does, and no frame starts after it. The last :data:`RETAINED_FRAMES`
frames are kept so that PACKETRESEND can be answered with status 0x0100 packets; a block
that is no longer retained is answered with one PACKET_UNAVAILABLE (0x800C) packet.
Faults from the :class:`~.faults.FaultPlan` act on every packet sent, resends included.
"""

from __future__ import annotations

import collections
import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from panelgate.drivers.gige import gvsp
from panelgate.drivers.gige.gvcp import ResendRequest, Status

from .faults import FaultPlan
from .pacing import LinkPacer
from .source import FrameSource, Geometry

__all__ = ["RETAINED_FRAMES", "GvspStreamer", "StreamSettings"]

_log = logging.getLogger(__name__)

RETAINED_FRAMES = 8
_STD = struct.Struct(">HHI")
_PAYLOAD = int(gvsp.ContentType.PAYLOAD) << 24
_PACKET_HEADERS_BYTES = gvsp.IP_UDP_HEADER_BYTES + 20  #: IP, UDP and (at most) GVSP header


@dataclass(frozen=True)
class StreamSettings:
    """What to send, where and how fast, read from the registers at AcquisitionStart."""

    geometry: Geometry
    destination: tuple[str, int]
    packet_size_bytes: int = 1500
    packet_delay_ns: int = 0
    frame_rate_hz: float = 10.0
    frame_count: int = 0  #: 0 = continuous
    triggered: bool = False
    extended_ids: bool = False
    pixel_format: int = gvsp.PixelFormat.MONO16
    link_speed_bps: float = 1e9  #: 0 = unpaced (only GevSCPD spaces packets)


@dataclass
class _Retained:
    data: bytes
    leader: bytes
    trailer: bytes
    chunk: int
    n_payload: int


class GvspStreamer:
    """Sends frames from a :class:`FrameSource` to the host over UDP.

    Parameters
    ----------
    bind_address : str
        Source address of the stream packets (the device's address).
    source : FrameSource
        Where image data comes from.
    faults : callable
        Returns the current :class:`FaultPlan`.
    on_disconnect : callable
        Called (with the frame number) when a ``disconnect`` fault fires mid-frame.
    """

    def __init__(
        self,
        bind_address: str,
        source: FrameSource,
        faults: Callable[[], FaultPlan],
        on_disconnect: Callable[[], None],
    ) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        self._sock.bind((bind_address, 0))
        self._source = source
        self._faults = faults
        self._on_disconnect = on_disconnect
        self._retained: collections.OrderedDict[int, _Retained] = collections.OrderedDict()
        self._retained_lock = threading.Lock()
        self._settings: StreamSettings | None = None
        self._stop = threading.Event()
        self._trigger = threading.Semaphore(0)
        self._thread: threading.Thread | None = None
        self._block_id = 0
        self._frames_total = 0
        self._burst_left = 0
        self._rng = random.Random(0)
        self._resend_rng = random.Random(1)
        self._pacer = LinkPacer(0)
        self._frame_left_at = 0.0  #: perf_counter time at which the frame being sent is out
        self.counters = collections.Counter[str]()

    @property
    def running(self) -> bool:
        """True while the sending thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, settings: StreamSettings) -> None:
        """Start sending with ``settings``; a running stream is stopped first."""
        self.stop()
        self._settings = settings
        self._pacer = LinkPacer(settings.link_speed_bps)
        self._stop.clear()
        self._trigger = threading.Semaphore(0)
        self._thread = threading.Thread(target=self._run, name="gvsp-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sending and wait for the thread."""
        self._stop.set()
        self._trigger.release()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def transmission_left_s(self) -> float:
        """Estimated seconds until the frame in transmission has left (0 between frames)."""
        return max(0.0, self._frame_left_at - time.perf_counter())

    def software_trigger(self) -> None:
        """Release one frame when the stream is triggered."""
        self._trigger.release()

    def close(self) -> None:
        """Stop and close the socket."""
        self.stop()
        self._sock.close()

    # -- resend and test packets ---------------------------------------------------------
    def resend(self, request: ResendRequest) -> None:
        """Answer a PACKETRESEND from the retained frames (GigE Vision 2.x, "PACKETRESEND")."""
        settings = self._settings
        if settings is None:
            return
        with self._retained_lock:
            frame = self._retained.get(request.block_id)
        self.counters["resend_requests"] += 1
        if frame is None:
            header = gvsp.encode_header(
                Status.PACKET_UNAVAILABLE,
                request.block_id,
                gvsp.ContentType.PAYLOAD,
                request.first_packet_id,
                settings.extended_ids,
            )
            self._send(header, b"", settings, resend=True)
            self.counters["resends_unavailable"] += 1
            return
        last = min(request.last_packet_id, frame.n_payload + 1)
        for packet_id in range(request.first_packet_id, last + 1):
            self._send_packet(frame, request.block_id, packet_id, settings, Status.PACKET_RESEND)
            self.counters["packets_resent"] += 1

    def fire_test_packet(self, destination: tuple[str, int], packet_size_bytes: int) -> None:
        """Send one test packet of the given SCPS size (GigE Vision 2.x, SCPS bit 31)."""
        size = max(0, packet_size_bytes - gvsp.IP_UDP_HEADER_BYTES)
        try:
            self._sock.sendto(b"\0" * size, destination)
        except OSError as exc:
            _log.debug("test packet to %s failed: %s", destination, exc)

    # -- sending thread ------------------------------------------------------------------------
    def _run(self) -> None:
        settings = self._settings
        if settings is None:
            return
        self._source.prepare(settings.geometry)  # before the clock starts: no late first frame
        clock = None if settings.triggered else _FrameClock(settings.frame_rate_hz)
        sent = 0
        while self._next_frame_due(clock):
            if not self._send_frame(settings):
                return
            sent += 1
            if settings.frame_count and sent >= settings.frame_count:
                return
            if clock is not None:
                clock.frame_sent()

    def _next_frame_due(self, clock: _FrameClock | None) -> bool:
        """Wait for a software trigger (no clock) or the frame clock; False once stopped."""
        if clock is None:
            self._trigger.acquire()
        else:
            delay = clock.next_t - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
        return not self._stop.is_set()

    def _send_frame(self, settings: StreamSettings) -> bool:
        g = settings.geometry
        self._frames_total += 1
        number = self._frames_total
        limit = 1 << 64 if settings.extended_ids else 1 << 16
        self._block_id = self._block_id % (limit - 1) + 1
        block_id = self._block_id
        data = self._source.frame(number - 1, g)
        chunk = gvsp.payload_bytes_per_packet(settings.packet_size_bytes, settings.extended_ids)
        n_payload = -(-len(data) // chunk)
        leader = gvsp.encode_image_leader(
            gvsp.ImageLeader(
                time.monotonic_ns(), settings.pixel_format, g.width, g.height,
                g.offset_x, g.offset_y,
            )
        )  # fmt: skip
        trailer = gvsp.encode_trailer(gvsp.Trailer(gvsp.PAYLOAD_TYPE_IMAGE, g.height))
        frame = _Retained(data, leader, trailer, chunk, n_payload)
        with self._retained_lock:
            self._retained[block_id] = frame
            while len(self._retained) > RETAINED_FRAMES:
                self._retained.popitem(last=False)
        plan = self._faults()
        if plan.burst_every_frames and number % plan.burst_every_frames == 0:
            self._burst_left = plan.burst_packets
        middle = n_payload // 2
        packets = n_payload + 2
        ip_bytes = len(data) + len(leader) + len(trailer) + packets * _PACKET_HEADERS_BYTES
        gap_s = settings.packet_delay_ns * 1e-9
        self._frame_left_at = time.perf_counter() + self._pacer.wire_s(ip_bytes, packets, gap_s)
        try:
            for packet_id in range(packets):
                if packet_id == middle and not self._mid_frame_faults(plan, number):
                    return False
                self._send_packet(frame, block_id, packet_id, settings, Status.SUCCESS)
        finally:
            self._frame_left_at = 0.0
        self.counters["frames_sent"] += 1
        return True

    def _mid_frame_faults(self, plan: FaultPlan, number: int) -> bool:
        if plan.stall_after_frames == number and plan.stall_s > 0:
            _log.info("fault: stream stalls %.3g s in frame %d", plan.stall_s, number)
            if self._stop.wait(plan.stall_s):
                return False
        if plan.disconnect_after_frames == number:
            _log.info("fault: device disconnects in the middle of frame %d", number)
            self._on_disconnect()
            return False
        return True

    def _send_packet(
        self, frame: _Retained, block_id: int, packet_id: int, s: StreamSettings, status: int
    ) -> None:
        if packet_id == 0:
            content, data = gvsp.ContentType.LEADER, memoryview(frame.leader)
        elif packet_id == frame.n_payload + 1:
            content, data = gvsp.ContentType.TRAILER, memoryview(frame.trailer)
        else:
            start = (packet_id - 1) * frame.chunk
            content = gvsp.ContentType.PAYLOAD
            data = memoryview(frame.data)[start : start + frame.chunk]
        if s.extended_ids:
            header = gvsp.encode_header(status, block_id, content, packet_id, True)
        else:
            header = _STD.pack(status, block_id, content << 24 | packet_id)
        self._send(header, data, s, resend=status == Status.PACKET_RESEND)

    def _send(
        self, header: bytes, data: bytes | memoryview, s: StreamSettings, resend: bool
    ) -> None:
        # the link is busy even for a packet that a fault then loses on the way
        self._pacer.wait(
            gvsp.IP_UDP_HEADER_BYTES + len(header) + len(data), s.packet_delay_ns * 1e-9
        )
        plan = self._faults()
        rng = self._resend_rng if resend else self._rng
        if self._burst_left > 0 and not resend:
            self._burst_left -= 1
            self.counters["packets_dropped"] += 1
            return
        if plan.loss_ratio and rng.random() < plan.loss_ratio:
            self.counters["packets_dropped"] += 1
            return
        if plan.corrupt_ratio and rng.random() < plan.corrupt_ratio:
            header = rng.randbytes(len(header))
            self.counters["packets_corrupted"] += 1
        try:
            self._sock.sendmsg([header, data], (), 0, s.destination)
        except OSError as exc:
            self.counters["send_errors"] += 1
            _log.debug("GVSP send to %s failed: %s", s.destination, exc)


class _FrameClock:
    """Free-running frame timing (AcquisitionMode Continuous/MultiFrame without trigger).

    The first frame is due one integration window after the start (at most 0.1 s), then
    one per period. A frame that went out late does not make the next one follow it
    back to back: at least half a period passes after the late frame has been sent.
    """

    def __init__(self, rate_hz: float) -> None:
        self._period_s = 1.0 / rate_hz
        self.next_t = time.monotonic() + min(self._period_s, 0.1)

    def frame_sent(self) -> None:
        """Schedule the next frame; call when a frame's last packet has been sent."""
        self.next_t = max(self.next_t + self._period_s, time.monotonic() + self._period_s / 2)

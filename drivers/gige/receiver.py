"""GVSP receiver: packets straight into preallocated frame buffers, resends, counters.

One thread reads the stream socket with ``recvmsg_into``: the GVSP header goes into a small
buffer and the data into the frame buffer at the slot of the packet expected next, so an
in-order payload packet is never copied; anything else lands in a scratch buffer and is
copied to its slot. Frame assembly and the resend policy follow GigE Vision 2.x "GVSP" and
aravis' ``arvgvstream.c``: a gap in packet ids is re-requested at once (PACKETRESEND), then
every ``packet_timeout_s`` while packets are missing; a frame not complete after
``frame_retention_s`` is given up and counted as incomplete. Complete frames go to a
bounded queue (drop-oldest); their buffers belong to the caller and the pool is topped up
outside the packet path.
"""

from __future__ import annotations

import collections
import logging
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from panelgate.drivers.errors import TransportError

from . import gvsp
from .errors import ProtocolError
from .gvcp import ResendRequest, Status

__all__ = [
    "GvspReceiver",
    "ReceivedFrame",
    "ReceiverPolicy",
    "StreamGeometry",
    "set_receive_buffer",
]

_log = logging.getLogger(__name__)
_STD = struct.Struct(">HHI")
_EI = 0x80000000
_LEADER, _TRAILER, _PAYLOAD = 1, 2, 3
_MSG_TRUNC = getattr(socket, "MSG_TRUNC", 0x20)
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  #: Linux value; Python does not export it


@dataclass(frozen=True)
class StreamGeometry:
    """Size of the frames and packets the receiver expects."""

    width: int
    height: int
    packet_size_bytes: int
    bytes_per_pixel: int = 2
    extended_ids: bool = False

    @property
    def payload_bytes(self) -> int:
        """Image bytes per frame."""
        return self.width * self.height * self.bytes_per_pixel

    @property
    def chunk_bytes(self) -> int:
        """Image bytes per full payload packet."""
        return gvsp.payload_bytes_per_packet(self.packet_size_bytes, self.extended_ids)

    @property
    def n_payload(self) -> int:
        """Payload packets per frame."""
        return -(-self.payload_bytes // self.chunk_bytes)


@dataclass(frozen=True)
class ReceiverPolicy:
    """Resend and buffering policy (defaults close to aravis' ``ArvGvStream``).

    Parameters
    ----------
    packet_timeout_s : float
        Wait between two resend requests for the same missing packets.
    stall_timeout_s : float
        Silence after which the tail of the newest frame (trailer included) is re-requested.
    frame_retention_s : float
        Longest time a frame may stay incomplete before it is given up.
    queue_depth : int
        Complete frames kept for the reader; the oldest is dropped when full.
    pool_size : int
        Frame buffers allocated in advance.
    socket_buffer_bytes : int
        SO_RCVBUF asked for (0 = twice the frame size, at least 8 MiB).
    """

    packet_timeout_s: float = 0.05
    stall_timeout_s: float = 0.05
    frame_retention_s: float = 1.0
    queue_depth: int = 4
    pool_size: int = 4
    socket_buffer_bytes: int = 0


@dataclass(frozen=True)
class ReceivedFrame:
    """A complete frame: block id, pixels (owned by the caller), device timestamp."""

    block_id: int
    pixels: npt.NDArray[np.uint16]
    timestamp_ticks: int
    t_mono_s: float


class _Block:
    __slots__ = ("buf", "deadline", "got", "last_pid", "last_t", "n_got", "next_resend", "ts")

    def __init__(self, buf: npt.NDArray[np.uint8], n_packets: int, now: float, keep_s: float):
        self.buf = buf
        self.got = np.zeros(n_packets, dtype=np.uint8)
        self.n_got = 0
        self.last_pid = -1
        self.last_t = now
        self.next_resend = 0.0
        self.deadline = now + keep_s
        self.ts = 0


def set_receive_buffer(sock: socket.socket, wanted_bytes: int) -> int:
    """Ask for a receive buffer of ``wanted_bytes`` and return what the kernel granted.

    Tries ``SO_RCVBUFFORCE`` (needs CAP_NET_ADMIN, ignores ``net.core.rmem_max``), then
    ``SO_RCVBUF`` (capped at ``net.core.rmem_max``). Linux reports twice the size asked
    for, to account for bookkeeping; the value returned is the one read back.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, wanted_bytes)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, wanted_bytes)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


class GvspReceiver:
    """Receives one GVSP stream channel into frames.

    Parameters
    ----------
    bind_ip : str
        Local address to receive on (the interface that reaches the device).
    geometry : StreamGeometry
        Frame and packet sizes.
    request_resend : callable
        Sends a PACKETRESEND for a :class:`ResendRequest` (the control channel's job).
    policy : ReceiverPolicy
        Timeouts, queue depth, buffer sizes.

    Raises
    ------
    TransportError
        The socket cannot be opened.
    """

    def __init__(
        self,
        bind_ip: str,
        geometry: StreamGeometry,
        request_resend: Callable[[ResendRequest], None],
        policy: ReceiverPolicy | None = None,
    ) -> None:
        self.policy = policy or ReceiverPolicy()
        self._request_resend = request_resend
        self.counters = collections.Counter[str]()
        self._frames: queue.Queue[ReceivedFrame] = queue.Queue(self.policy.queue_depth)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = 0
        try:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.bind((bind_ip, 0))
        except OSError as exc:
            raise TransportError(f"cannot open GVSP socket on {bind_ip}: {exc}") from exc
        self.port = int(self._sock.getsockname()[1])
        self.receive_buffer_bytes = 0
        self.geometry = geometry
        self._pool: list[npt.NDArray[np.uint8]] = []
        self.set_geometry(geometry)

    # -- control -------------------------------------------------------------------------------
    def set_geometry(self, geometry: StreamGeometry) -> None:
        """Change the frame size; only while stopped. Refills the buffer pool."""
        if geometry.chunk_bytes <= 0:
            raise ValueError(f"packet size {geometry.packet_size_bytes} B leaves no room for data")
        self.geometry = geometry
        self._pool = [
            np.empty(geometry.payload_bytes, dtype=np.uint8) for _ in range(self.policy.pool_size)
        ]
        wanted = self.policy.socket_buffer_bytes or max(2 * geometry.payload_bytes, 8 << 20)
        self.receive_buffer_bytes = set_receive_buffer(self._sock, wanted)
        if self.receive_buffer_bytes < geometry.payload_bytes:
            _log.warning(
                "GVSP socket receive buffer is %d B, smaller than one %d B frame: packets "
                "will be lost and resent; raise it with sysctl -w net.core.rmem_max=%d",
                self.receive_buffer_bytes,
                geometry.payload_bytes,
                2 * geometry.payload_bytes,
            )

    def start(self) -> None:
        """Start the receiving thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gvsp-receiver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the receiving thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        """Stop and close the socket."""
        self.stop()
        self._sock.close()

    def get(self, timeout_s: float) -> ReceivedFrame | None:
        """Return the oldest complete frame, or None after ``timeout_s``."""
        try:
            return self._frames.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def reset(self) -> None:
        """Forget partial frames and recent block ids (a new acquisition or a new device)."""
        self._generation += 1
        self.drain()

    def drain(self) -> int:
        """Drop queued frames; returns how many."""
        n = 0
        while True:
            try:
                self._frames.get_nowait()
            except queue.Empty:
                return n
            n += 1

    # -- thread ----------------------------------------------------------------------------------
    def _run(self) -> None:  # noqa: PLR0912, PLR0915 - the packet loop is kept flat for speed
        g = self.geometry
        hsize = gvsp.EXTENDED_HEADER_BYTES if g.extended_ids else gvsp.STANDARD_HEADER_BYTES
        chunk, n, total = g.chunk_bytes, g.n_payload, g.payload_bytes
        header = bytearray(hsize)
        scratch = bytearray(65536)
        scratch_view = memoryview(scratch)
        blocks: dict[int, _Block] = {}
        done: collections.deque[int] = collections.deque(maxlen=64)
        counters = self.counters
        sock = self._sock
        sock.settimeout(0.002)
        cur: _Block | None = None
        cur_id = -1
        expect = -1
        since_check = 0
        generation = self._generation
        while not self._stop.is_set():
            if generation != self._generation:
                generation = self._generation
                for stale in list(blocks):
                    self._give_up(blocks, stale, count=False)
                done.clear()
                cur, cur_id, expect = None, -1, -1
            on_slot = cur is not None and 1 <= expect < n and not cur.got[expect]
            if on_slot and cur is not None:
                target = cur.buf.data[(expect - 1) * chunk : expect * chunk]
            else:
                target = scratch_view
            try:
                nbytes, _, flags, _ = sock.recvmsg_into([header, target])
            except TimeoutError:
                self._housekeeping(blocks, time.monotonic(), cur_id)
                continue
            except OSError as exc:
                if not self._stop.is_set():
                    _log.warning("GVSP socket failed: %s", exc)
                return
            since_check += 1
            if since_check >= 256:
                since_check = 0
                self._housekeeping(blocks, time.monotonic(), cur_id)
            try:
                status, block_id, content, pid = self._parse(header, nbytes, hsize, flags)
            except ProtocolError:
                counters["malformed_packets"] += 1
                continue
            if status & 0x8000:
                counters["error_packets"] += 1
                if status in (Status.PACKET_UNAVAILABLE, Status.PACKET_REMOVED_FROM_MEMORY):
                    self._give_up(blocks, block_id)
                continue
            if status == Status.PACKET_RESEND:
                counters["packets_resent"] += 1
            counters["packets_received"] += 1
            length = nbytes - hsize
            block = blocks.get(block_id)
            if block is None:
                if block_id in done:
                    counters["duplicate_packets"] += 1
                    continue
                block = self._new_block(blocks, block_id, n + 2)
            landing = target
            if content == _PAYLOAD:
                if not 1 <= pid <= n or length != min(chunk, total - (pid - 1) * chunk):
                    counters["malformed_packets"] += 1
                    continue
                if block.got[pid]:
                    counters["duplicate_packets"] += 1
                    continue
                if not (on_slot and block is cur and pid == expect):
                    start = (pid - 1) * chunk
                    block.buf[start : start + length] = np.frombuffer(landing[:length], np.uint8)
            elif content == _LEADER:
                if not self._check_leader(bytes(landing[:length]), block) or pid != 0:
                    counters["size_mismatch"] += 1
                    self._give_up(blocks, block_id, count=False)
                    continue
            elif content == _TRAILER and pid != n + 1:
                counters["malformed_packets"] += 1
                continue
            if block.got[pid]:
                counters["duplicate_packets"] += 1
                continue
            block.got[pid] = 1
            block.n_got += 1
            now = time.monotonic()
            block.last_t = now
            if pid > block.last_pid + 1 and status != Status.PACKET_RESEND:
                self._ask(block_id, block.last_pid + 1, pid - 1, block, now)
            if status != Status.PACKET_RESEND:
                block.last_pid = max(block.last_pid, pid)
            cur, cur_id = block, block_id
            expect = pid + 1
            if block.n_got == n + 2:
                del blocks[block_id]
                done.append(block_id)
                self._deliver(block_id, block, now)
                cur, cur_id, expect = None, -1, -1

    @staticmethod
    def _parse(header: bytearray, nbytes: int, hsize: int, flags: int) -> tuple[int, int, int, int]:
        if nbytes < hsize or flags & _MSG_TRUNC:
            raise ProtocolError("GVSP packet too short or truncated")
        status, block16, infos = _STD.unpack_from(header)
        if bool(infos & _EI) != (hsize == gvsp.EXTENDED_HEADER_BYTES):
            raise ProtocolError("GVSP header kind differs from the negotiated one")
        content = infos >> 24 & 0x7F
        if hsize == gvsp.EXTENDED_HEADER_BYTES:
            block_id, pid = struct.unpack_from(">QI", header, 8)
        else:
            block_id, pid = block16, infos & 0xFFFFFF
        if block_id == 0 or content not in (_LEADER, _TRAILER, _PAYLOAD):
            raise ProtocolError(f"GVSP block {block_id} content {content} not accepted")
        return int(status), int(block_id), int(content), int(pid)

    def _check_leader(self, data: bytes, block: _Block) -> bool:
        try:
            leader = gvsp.decode_image_leader(data)
        except ProtocolError:
            return False
        block.ts = leader.timestamp_ticks
        g = self.geometry
        return (leader.width, leader.height) == (g.width, g.height)

    def _new_block(self, blocks: dict[int, _Block], block_id: int, n_packets: int) -> _Block:
        if len(blocks) >= 4:
            oldest = next(iter(blocks))
            self._give_up(blocks, oldest)
        buf = self._pool.pop() if self._pool else np.empty(self.geometry.payload_bytes, np.uint8)
        block = _Block(buf, n_packets, time.monotonic(), self.policy.frame_retention_s)
        blocks[block_id] = block
        return block

    def _give_up(self, blocks: dict[int, _Block], block_id: int, count: bool = True) -> None:
        block = blocks.pop(block_id, None)
        if block is None:
            return
        if count:
            self.counters["frames_incomplete"] += 1
            self.counters["packets_missing"] += int(block.got.size - block.n_got)
        self._pool.append(block.buf)

    def _ask(self, block_id: int, first: int, last: int, block: _Block, now: float) -> None:
        self.counters["resend_requests"] += 1
        self.counters["packets_requested"] += last - first + 1
        block.next_resend = now + self.policy.packet_timeout_s
        request = ResendRequest(0, block_id, first, last, self.geometry.extended_ids)
        try:
            self._request_resend(request)
        except OSError as exc:  # TransportError included: keep receiving, the frame may time out
            _log.debug("PACKETRESEND failed: %s", exc)

    def _housekeeping(self, blocks: dict[int, _Block], now: float, newest: int) -> None:
        while len(self._pool) < self.policy.pool_size:
            self._pool.append(np.empty(self.geometry.payload_bytes, dtype=np.uint8))
        for block_id, block in list(blocks.items()):
            if now > block.deadline:
                self._give_up(blocks, block_id)
                continue
            stalled = now - block.last_t > self.policy.stall_timeout_s
            if now < block.next_resend or (block_id == newest and not stalled):
                continue
            upto = block.got.size if stalled or block_id != newest else block.last_pid
            missing = np.flatnonzero(block.got[:upto] == 0)
            if missing.size == 0:
                continue
            breaks = np.flatnonzero(np.diff(missing) != 1)
            starts = np.concatenate(([missing[0]], missing[breaks + 1]))
            ends = np.concatenate((missing[breaks], [missing[-1]]))
            for first, last in zip(starts[:32], ends[:32], strict=True):
                self._ask(block_id, int(first), int(last), block, now)

    def _deliver(self, block_id: int, block: _Block, now: float) -> None:
        g = self.geometry
        pixels = block.buf.view("<u2").reshape(g.height, g.width)
        frame = ReceivedFrame(block_id, pixels.view(np.uint16), block.ts, now)
        self.counters["frames_completed"] += 1
        while True:
            try:
                self._frames.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self._frames.get_nowait()
                    self.counters["frames_dropped"] += 1
                except queue.Empty:
                    pass

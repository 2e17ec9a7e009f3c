"""The U3V stream channel: SIRM set-up and leader / payload / trailer reads.

Per block the host reads the leader, ``payload_count`` transfers of ``payload_size``,
``transfer1`` and ``transfer2`` (when non-zero), then the trailer (USB3 Vision stream
protocol; aravis ``src/arvuvstream.c``). Transfers land in one preallocated staging
buffer and are copied once into the frame. A halted endpoint is cleared (``clear_halt``)
and reported; a short transfer or a trailer that disagrees ends the block with an error.
The wait for a leader is cut in bulk reads of at most ``CANCEL_POLL_S`` so that a cancel
is seen between them (libusb's synchronous transfers cannot be interrupted); the pieces
are one wait, and one :class:`~panelgate.drivers.errors.DetectorTimeout` when it runs out.
"""

from __future__ import annotations

import array
import logging
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import usb.core

from panelgate.drivers.cancel import CANCEL_POLL_S, ReadCancel
from panelgate.drivers.errors import DetectorTimeout, TransportError

from .control import ControlChannel
from .protocol import (
    SIRM,
    Leader,
    StreamLayout,
    Trailer,
    decode_leader,
    decode_trailer,
    plan_stream,
)
from .usberrors import EndpointHalted, is_halt, is_timeout, translate

__all__ = ["IncompleteBlock", "StreamChannel"]

_log = logging.getLogger(__name__)


class IncompleteBlock(TransportError):
    """A stream block ended early or its trailer disagrees with what arrived."""


class StreamChannel:
    """One U3V streaming interface.

    Parameters
    ----------
    ep_in : usb.core.Endpoint
        The data interface's bulk IN endpoint.
    control : ControlChannel
        For the SIRM registers.
    sirm : int
        SIRM base address (from SBRM).
    max_transfer : int
        Largest bulk transfer, in bytes (aravis: 1 MiB).
    """

    def __init__(
        self, ep_in: Any, control: ControlChannel, sirm: int, max_transfer: int = 1 << 20
    ) -> None:
        self.ep_in = ep_in
        self.control = control
        self.sirm = sirm
        self.max_transfer = max_transfer
        self.layout: StreamLayout | None = None
        self.counters = {"blocks": 0, "transfers": 0, "bytes": 0, "halts_cleared": 0, "short": 0}
        self._staging = array.array("B")
        self._buffers: dict[int, array.array[int]] = {}
        self._last_block_id: int | None = None

    def configure(self) -> StreamLayout:
        """Read the required sizes, plan the transfers, write them (SIRM), allocate buffers."""
        c, base = self.control, self.sirm
        alignment = 1 << (c.read_u32(base + SIRM.INFO) >> 24)
        layout = plan_stream(
            c.read_u64(base + SIRM.REQUIRED_PAYLOAD),
            c.read_u32(base + SIRM.REQUIRED_LEADER),
            c.read_u32(base + SIRM.REQUIRED_TRAILER),
            alignment,
            self.max_transfer,
        )
        for off, value in (
            (SIRM.MAX_LEADER, layout.leader_size),
            (SIRM.PAYLOAD_SIZE, layout.payload_size),
            (SIRM.PAYLOAD_COUNT, layout.payload_count),
            (SIRM.TRANSFER1, layout.transfer1),
            (SIRM.TRANSFER2, layout.transfer2),
            (SIRM.MAX_TRAILER, layout.trailer_size),
        ):
            c.write_u32(base + off, value)
        self._buffers = {
            size: array.array("B", bytes(size))
            for size in (layout.payload_size, layout.leader_size, layout.trailer_size,
                         layout.transfer1, layout.transfer2)
            if size
        }  # fmt: skip
        self.layout = layout
        return layout

    def start(self) -> None:
        """Clear a halt left on the endpoint and enable the stream (SI control bit 0)."""
        self.clear_halt()
        self.control.write_u32(self.sirm + SIRM.CONTROL, 1)

    def stop(self) -> None:
        """Disable the stream."""
        self.control.write_u32(self.sirm + SIRM.CONTROL, 0)

    def clear_halt(self) -> None:
        """Clear the endpoint's halt (stall) condition."""
        try:
            self.ep_in.clear_halt()
        except usb.core.USBError as exc:
            raise translate(exc, "clearing the stream endpoint halt") from exc

    def read_block(
        self, out: npt.NDArray[np.uint8], timeout_s: float, cancel: ReadCancel | None = None
    ) -> tuple[Leader, Trailer]:
        """Read one block; the payload goes into ``out`` (a flat uint8 array).

        Raises
        ------
        DetectorTimeout
            No leader within ``timeout_s`` (the stream stays usable).
        ReadCancelled
            ``cancel`` was set while waiting for the leader (the stream stays usable).
        EndpointHalted
            The endpoint stalled; it has been cleared, the block is lost.
        IncompleteBlock
            Short payload or trailer mismatch; the block is lost.
        TransportError
            The device is gone or another USB error.
        """
        if self.layout is None:
            raise TransportError("stream read before configure()")
        lay = self.layout
        leader = decode_leader(self._wait_leader(lay.leader_size, timeout_s, cancel))
        received = 0
        sizes = [lay.payload_size] * lay.payload_count + [lay.transfer1, lay.transfer2]
        for size in (s for s in sizes if s):
            n = self._read_into(size, 1.0)
            take = min(n, out.size - received)
            out[received : received + take] = np.frombuffer(self._staging, np.uint8, take)
            received += take
            if n < size:
                self.counters["short"] += 1
                break
        trailer = decode_trailer(self._read(lay.trailer_size, 1.0, "trailer"))
        self.counters["blocks"] += 1
        if trailer.block_id != leader.block_id:
            raise IncompleteBlock(
                f"trailer of block {trailer.block_id} after leader of block {leader.block_id}"
            )
        if trailer.valid_payload != received or received < out.size:
            raise IncompleteBlock(
                f"block {leader.block_id}: received {received} of {out.size} payload bytes "
                f"(trailer says {trailer.valid_payload} valid)"
            )
        if self._last_block_id is not None and leader.block_id != self._last_block_id + 1:
            _log.warning("block ids jump from %d to %d", self._last_block_id, leader.block_id)
        self._last_block_id = leader.block_id
        return leader, trailer

    def flush(self) -> int:
        """Discard whatever is queued on the endpoint; return the number of transfers."""
        n = 0
        while True:
            try:
                self.ep_in.read(self._flush_buffer(), 5)
            except usb.core.USBError as exc:
                if is_timeout(exc):
                    return n
                if is_halt(exc):
                    self.clear_halt()
                    continue
                raise translate(exc, "flushing the stream endpoint") from exc
            n += 1

    def _flush_buffer(self) -> array.array[int]:
        size = max(self._buffers, default=4096)
        return self._buffers.setdefault(size, array.array("B", bytes(size)))

    def _wait_leader(self, size: int, timeout_s: float, cancel: ReadCancel | None) -> bytes:
        """Wait up to ``timeout_s`` for a leader, looking at ``cancel`` between pieces."""
        if cancel is None:
            return self._read(size, timeout_s, "leader")
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            cancel.check("USB3 Vision stream read")
            try:
                return self._read(size, min(left, CANCEL_POLL_S), "leader")
            except DetectorTimeout:
                continue
        raise DetectorTimeout(f"no stream data within {timeout_s:g} s")

    def _read(self, size: int, timeout_s: float, what: str) -> bytes:
        n = self._read_into(size, timeout_s)
        return bytes(memoryview(self._buffers[size])[:n])

    def _read_into(self, size: int, timeout_s: float) -> int:
        """Read one transfer of exactly ``size`` bytes into its preallocated buffer."""
        buf = self._buffers.get(size)
        if buf is None:
            buf = self._buffers[size] = array.array("B", bytes(size))
        self._staging = buf
        try:
            n = int(self.ep_in.read(buf, max(1, int(timeout_s * 1000))))
        except usb.core.USBError as exc:
            if is_timeout(exc):
                raise DetectorTimeout(f"no stream data within {timeout_s:g} s") from exc
            if is_halt(exc):
                self.counters["halts_cleared"] += 1
                self.clear_halt()
                raise EndpointHalted("stream endpoint halted; cleared, the block is lost") from exc
            raise translate(exc, "stream read") from exc
        self.counters["transfers"] += 1
        self.counters["bytes"] += n
        return n

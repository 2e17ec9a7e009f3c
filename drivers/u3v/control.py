"""The U3V control channel: GenCP READMEM / WRITEMEM over the control interface's bulk pair.

Request ids start near the end of the 16-bit counter (65300, as aravis does) so that
wrap-around is exercised at once. A command whose acknowledgement does not come within the
timeout is sent again with the resend flag (``retries`` times); PENDING_ACK extends the
wait by the device's temporary timeout. Acks for other request ids (late answers to an
earlier, resent command) are discarded.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from typing import Any

import usb.core

from panelgate.drivers.errors import DetectorTimeout, DriverError

from .protocol import (
    ACK_PENDING,
    ACK_READMEM,
    ACK_WRITEMEM,
    STATUS_TEXT,
    U3VProtocolError,
    decode_ack,
    encode_read,
    encode_write,
)
from .usberrors import is_timeout, translate

__all__ = ["ControlChannel", "GenCPStatusError"]

_log = logging.getLogger(__name__)

FIRST_REQUEST_ID = 65300


class GenCPStatusError(DriverError, OSError):
    """The device answered a command with a non-zero GenCP status (``status`` attribute)."""

    def __init__(self, status: int, what: str) -> None:
        text = STATUS_TEXT.get(status, "unknown status")
        super().__init__(f"{what}: device status 0x{status:04x} ({text})")
        self.status = status


class ControlChannel:
    """GenCP register access over two bulk endpoints.

    Parameters
    ----------
    ep_out, ep_in : usb.core.Endpoint
        Command (OUT) and acknowledge (IN) endpoints of the control interface.
    timeout_s : float
        Wait for one acknowledgement, in seconds.
    retries : int
        Resends after a timeout before giving up.
    """

    def __init__(self, ep_out: Any, ep_in: Any, timeout_s: float = 0.5, retries: int = 2) -> None:
        self.ep_out = ep_out
        self.ep_in = ep_in
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_cmd_bytes = 1024
        self.max_ack_bytes = 1024
        self.counters = {"commands": 0, "resends": 0, "pending_acks": 0}
        self._request_id = FIRST_REQUEST_ID
        self._lock = threading.Lock()

    def read_mem(self, address: int, size: int) -> bytes:
        """READMEM ``size`` bytes at ``address``, split into packets the device accepts."""
        out = bytearray()
        chunk = max(4, self.max_ack_bytes - 12)
        while len(out) < size:
            n = min(chunk, size - len(out))
            data = self._transact(encode_read, address + len(out), n, ACK_READMEM)
            if len(data) != n:
                raise U3VProtocolError(
                    f"READMEM of {n} bytes at 0x{address + len(out):x} answered {len(data)} bytes"
                )
            out += data
        return bytes(out)

    def write_mem(self, address: int, data: bytes) -> None:
        """WRITEMEM ``data`` at ``address``, split into packets the device accepts."""
        chunk = max(4, self.max_cmd_bytes - 20)
        for off in range(0, len(data), chunk):
            self._transact(encode_write, address + off, data[off : off + chunk], ACK_WRITEMEM)

    def read_u32(self, address: int) -> int:
        """Read a little-endian u32 register."""
        return int(struct.unpack("<I", self.read_mem(address, 4))[0])

    def read_u64(self, address: int) -> int:
        """Read a little-endian u64 register."""
        return int(struct.unpack("<Q", self.read_mem(address, 8))[0])

    def write_u32(self, address: int, value: int) -> None:
        """Write a little-endian u32 register."""
        self.write_mem(address, struct.pack("<I", value))

    def _next_id(self) -> int:
        self._request_id = (self._request_id + 1) & 0xFFFF
        return self._request_id

    def _transact(self, encode: Any, address: int, arg: Any, ack_id: int) -> bytes:
        what = f"GenCP 0x{ack_id - 1:04x} at 0x{address:x}"
        with self._lock:
            request_id = self._next_id()
            self.counters["commands"] += 1
            for attempt in range(self.retries + 1):
                resend = attempt > 0
                if resend:
                    self.counters["resends"] += 1
                    _log.debug("%s: no ack, resending (%d)", what, attempt)
                self._write(encode(request_id, address, arg, resend), what)
                payload = self._await_ack(request_id, ack_id, what)
                if payload is not None:
                    return payload
            raise DetectorTimeout(
                f"{what}: no acknowledgement after {self.retries + 1} tries of {self.timeout_s:g} s"
            )

    def _await_ack(self, request_id: int, ack_id: int, what: str) -> bytes | None:
        deadline = time.monotonic() + self.timeout_s
        while True:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                return None
            try:
                data = bytes(self.ep_in.read(self.max_ack_bytes, max(1, remaining_ms)))
            except usb.core.USBError as exc:
                if is_timeout(exc):
                    return None
                raise translate(exc, what) from exc
            try:
                ack = decode_ack(data)
            except U3VProtocolError:
                _log.warning("%s: malformed ack discarded", what)
                continue
            if ack.request_id != request_id:
                _log.debug("%s: stale ack %d discarded", what, ack.request_id)
                continue
            if ack.command == ACK_PENDING and ack.status == 0 and len(ack.payload) >= 4:
                (extra_ms,) = struct.unpack_from("<H", ack.payload, 2)
                self.counters["pending_acks"] += 1
                deadline = time.monotonic() + extra_ms / 1000
                continue
            if ack.status != 0:
                raise GenCPStatusError(ack.status, what)
            if ack.command != ack_id:
                raise U3VProtocolError(f"{what}: ack 0x{ack.command:04x}, expected 0x{ack_id:04x}")
            return ack.payload

    def _write(self, data: bytes, what: str) -> None:
        try:
            self.ep_out.write(data, int(self.timeout_s * 1000))
        except usb.core.USBError as exc:
            raise translate(exc, what) from exc

"""GVCP client: one outstanding command at a time, retries, PENDING_ACK, error mapping.

Follows GigE Vision 2.x "GVCP" host behaviour as aravis implements it (``arvgvdevice.c``):
a command is resent with the same request id when no acknowledge arrives in
``ack_timeout_s``; a PENDING_ACK extends the wait by the announced time instead of a resend;
stale acknowledges (other ids) are skipped. Socket errors become
:class:`~panelgate.drivers.errors.TransportError`, silence becomes
:class:`~panelgate.drivers.errors.DetectorTimeout`, an error status becomes
:class:`~.errors.GvcpStatusError`.
"""

from __future__ import annotations

import collections
import logging
import socket
import threading
import time
from dataclasses import dataclass

from panelgate.drivers.errors import DetectorTimeout, TransportError

from . import gvcp
from .errors import GvcpStatusError, ProtocolError

__all__ = ["GvcpClient", "GvcpTiming"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GvcpTiming:
    """Timeouts of the control channel.

    Parameters
    ----------
    ack_timeout_s : float
        Wait for one acknowledge before resending (aravis: 0.5 s).
    retries : int
        Sends of one command before giving up (aravis: 5).
    """

    ack_timeout_s: float = 0.2
    retries: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.ack_timeout_s <= 10 or not 1 <= self.retries <= 20:
            raise ValueError(f"bad GVCP timing: {self}")


class GvcpClient:
    """Sends GVCP commands to one device and waits for their acknowledges.

    Parameters
    ----------
    host : str
        Device IPv4 address.
    port : int
        Device GVCP port (3956).
    timing : GvcpTiming
        Acknowledge timeout and retries.

    Attributes
    ----------
    execution_s : float
        The device's Pending Timeout (bootstrap 0x0958): it may take this long to execute
        a command before it acknowledges it or sends a PENDING_ACK. An acknowledge is
        awaited at least this long before a resend (set by whoever reads the register).

    Raises
    ------
    TransportError
        The socket cannot be opened.
    """

    def __init__(self, host: str, port: int, timing: GvcpTiming | None = None) -> None:
        self.timing = timing or GvcpTiming()
        self.execution_s = 0.0
        self.address = (host, port)
        self._lock = threading.Lock()
        self._req_id = 0
        self.counters = collections.Counter[str]()
        try:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.connect(self.address)
        except OSError as exc:
            raise TransportError(f"cannot open GVCP socket to {host}:{port}: {exc}") from exc

    @property
    def local_address(self) -> tuple[str, int]:
        """The (ip, port) this client sends from: the host interface that reaches the device."""
        host, port = self._sock.getsockname()
        return str(host), int(port)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    # -- commands ------------------------------------------------------------------------------
    def read_registers(self, addresses: list[int]) -> list[int]:
        """READREG: values of 32-bit registers."""
        ack = self.transact(gvcp.Command.READREG, gvcp.readreg_cmd_payload(addresses))
        return gvcp.parse_readreg_ack(ack.payload, len(addresses))

    def read_register(self, address: int) -> int:
        """READREG of one register."""
        return self.read_registers([address])[0]

    def write_registers(self, pairs: list[tuple[int, int]]) -> None:
        """WRITEREG of (address, value) pairs."""
        self.transact(gvcp.Command.WRITEREG, gvcp.writereg_cmd_payload(pairs))

    def write_register(self, address: int, value: int) -> None:
        """WRITEREG of one register."""
        self.write_registers([(address, value)])

    def read_memory(self, address: int, count: int) -> bytes:
        """READMEM in blocks of at most 512 bytes; ``count`` is rounded up to 4 for the wire."""
        out = bytearray()
        while len(out) < count:
            chunk = min(gvcp.MAX_READMEM_BYTES, -(-(count - len(out)) // 4) * 4)
            at = address + len(out)
            ack = self.transact(gvcp.Command.READMEM, gvcp.readmem_cmd_payload(at, chunk))
            out += gvcp.parse_readmem_ack(ack.payload, at, chunk)
        return bytes(out[:count])

    def write_memory(self, address: int, data: bytes) -> None:
        """WRITEMEM in blocks of at most 512 bytes (``data`` must be a multiple of 4)."""
        for start in range(0, len(data), gvcp.MAX_READMEM_BYTES):
            block = data[start : start + gvcp.MAX_READMEM_BYTES]
            self.transact(gvcp.Command.WRITEMEM, gvcp.writemem_cmd_payload(address + start, block))

    def request_resend(self, request: gvcp.ResendRequest) -> None:
        """PACKETRESEND (no acknowledge is expected)."""
        flags = gvcp.EXTENDED_IDS if request.extended else 0
        with self._lock:
            packet = gvcp.encode_command(
                gvcp.Command.PACKETRESEND, self._next_id(), gvcp.resend_cmd_payload(request), flags
            )
            self._send(packet)
        self.counters["resend_commands"] += 1

    # -- transaction ------------------------------------------------------------------------------
    def transact(self, command: int, payload: bytes) -> gvcp.Ack:
        """Send one command and return its successful acknowledge.

        Raises
        ------
        DetectorTimeout
            No acknowledge after all retries.
        GvcpStatusError
            The device answered with an error status.
        TransportError
            The socket failed.
        """
        with self._lock:
            req_id = self._next_id()
            packet = gvcp.encode_command(command, req_id, payload)
            for attempt in range(self.timing.retries):
                if attempt:
                    self.counters["retries"] += 1
                self._send(packet)
                ack = self._wait(req_id, command + 1)
                if ack is not None:
                    if ack.is_error:
                        raise GvcpStatusError(
                            ack.status,
                            f"device {self.address[0]} refused {gvcp.Command(command).name}: "
                            f"{gvcp.status_name(ack.status)}",
                        )
                    return ack
            self.counters["timeouts"] += 1
            raise DetectorTimeout(
                f"no GVCP acknowledge from {self.address[0]}:{self.address[1]} to "
                f"{gvcp.Command(command).name} after {self.timing.retries} tries of "
                f"{self.timing.ack_timeout_s:g} s"
            )

    def _next_id(self) -> int:
        self._req_id = self._req_id % 0xFFFF + 1
        return self._req_id

    def _send(self, packet: bytes) -> None:
        try:
            self._sock.send(packet)
        except OSError as exc:
            raise TransportError(f"GVCP send to {self.address[0]} failed: {exc}") from exc

    def _wait(self, req_id: int, ack_code: int) -> gvcp.Ack | None:
        deadline = time.monotonic() + max(self.timing.ack_timeout_s, self.execution_s)
        while (left := deadline - time.monotonic()) > 0:
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(2048)
            except TimeoutError:
                return None
            except ConnectionRefusedError:
                # ICMP port unreachable: nobody listens there (yet); treat as silence.
                time.sleep(min(left, 0.01))
                continue
            except OSError as exc:
                raise TransportError(f"GVCP receive from {self.address[0]} failed: {exc}") from exc
            try:
                ack = gvcp.decode_ack(data)
            except ProtocolError as exc:
                self.counters["malformed_acks"] += 1
                _log.debug("dropped malformed GVCP acknowledge: %s", exc)
                continue
            if ack.ack_id != req_id:
                self.counters["stale_acks"] += 1
                continue
            if ack.ack == gvcp.Command.PENDING + 1 and not ack.is_error:
                wait_ms = gvcp.parse_pending_ack(ack.payload)
                self.counters["pending_acks"] += 1
                deadline = time.monotonic() + wait_ms / 1000 + self.timing.ack_timeout_s
                continue
            if ack.ack != ack_code and not ack.is_error:
                self.counters["malformed_acks"] += 1
                continue
            return ack
        return None

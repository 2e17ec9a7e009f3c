"""GVCP server of the simulated panel: commands, acknowledges, control privilege, heartbeat.

Implements GigE Vision 2.x "GVCP" device behaviour: DISCOVERY, READREG, WRITEREG, READMEM,
WRITEMEM and PACKETRESEND; error acknowledges (INVALID_ADDRESS, BAD_ALIGNMENT,
WRITE_PROTECT, ACCESS_DENIED for writes from anyone but the controller, BUSY from the
device, INVALID_PARAMETER, NOT_IMPLEMENTED); PENDING_ACK before a write that takes longer
than the Pending Timeout (0x0958) once the host enabled it in the GVCP configuration
(0x0954), and before every write under the ``pending`` fault; control privilege in CCP
(0x0A00) that lapses when the controller sends nothing for the heartbeat timeout (0x0938).
Malformed datagrams are counted and dropped without an answer.
"""

from __future__ import annotations

import collections
import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Protocol

from panelgate.drivers.gige import bootstrap as bs
from panelgate.drivers.gige import gvcp
from panelgate.drivers.gige.errors import ProtocolError
from panelgate.drivers.gige.gvcp import Command, Status

from .registers import RegisterSpace

__all__ = ["GvcpServer"]

_log = logging.getLogger(__name__)
_POLL_S = 0.02


class GvcpServer:
    """Answers GVCP on a UDP socket in its own thread.

    Parameters
    ----------
    sock : socket.socket
        Bound UDP socket (the device's control port).
    discovery_sock : socket.socket, optional
        Socket bound to the broadcast address on the same port, for broadcast DISCOVERY.
    registers : callable
        Returns the current :class:`RegisterSpace` (it is replaced on a simulated reboot).
    hooks : object
        The device: ``resend(request)``, ``control_lost()``, ``tick()``, ``pending_ms()``,
        ``execution_ms(writes)``, ``heartbeat_loss_after_s()``.
    """

    def __init__(
        self,
        sock: socket.socket,
        registers: Callable[[], RegisterSpace],
        hooks: _Hooks,
        discovery_sock: socket.socket | None = None,
    ) -> None:
        self._sock = sock
        self._discovery_sock = discovery_sock
        self._registers = registers
        self._hooks = hooks
        self.controller: tuple[str, int] | None = None
        self._last_seen = 0.0
        self._taken_at = 0.0
        self.silent_until = 0.0
        self.counters = collections.Counter[str]()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gvcp-server", daemon=True)

    def start(self) -> None:
        """Start answering."""
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def drop_control(self, reason: str) -> None:
        """Forget the controller (heartbeat expiry, fault, reboot)."""
        if self.controller is not None:
            _log.info("control privilege of %s dropped: %s", self.controller, reason)
        self.controller = None
        self._registers().set_u32(bs.REG_CCP, 0)
        self._hooks.control_lost()

    # -- loop ----------------------------------------------------------------------------------
    def _run(self) -> None:
        socks = [s for s in (self._sock, self._discovery_sock) if s is not None]
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select(socks, [], [], _POLL_S)
                received = [(s is self._discovery_sock, *s.recvfrom(2048)) for s in ready]
            except (OSError, ValueError):
                return
            self._hooks.tick()
            self._check_heartbeat()
            for broadcast, data, peer in received:
                if broadcast and data[2:4] != b"\x00\x02":
                    continue  # the broadcast socket answers DISCOVERY only
                self.handle(data, peer)

    def _check_heartbeat(self) -> None:
        if self.controller is None:
            return
        now = time.monotonic()
        timeout_s = self._registers().u32(bs.REG_HEARTBEAT_TIMEOUT) / 1000
        if now - self._last_seen > timeout_s:
            self.drop_control(f"no GVCP traffic for {timeout_s:g} s (heartbeat timeout)")
        after = self._hooks.heartbeat_loss_after_s()
        if self.controller is not None and after and now - self._taken_at > after:
            self.drop_control("heartbeat-loss fault")

    # -- one datagram --------------------------------------------------------------------------
    def handle(self, data: bytes, peer: tuple[str, int]) -> None:
        """Decode one datagram and answer it (or drop it when malformed or silent)."""
        if time.monotonic() < self.silent_until:
            self.counters["ignored_while_disconnected"] += 1
            return
        try:
            cmd = gvcp.decode_command(data)
        except ProtocolError as exc:
            self.counters["malformed"] += 1
            _log.debug("dropped malformed GVCP datagram from %s: %s", peer, exc)
            return
        self.counters["commands"] += 1
        if peer == self.controller:
            self._last_seen = time.monotonic()
        try:
            answer = self._dispatch(cmd, peer)
        except ProtocolError as exc:
            self.counters["malformed"] += 1
            _log.debug("bad GVCP payload from %s: %s", peer, exc)
            answer = (Status.INVALID_PARAMETER, b"")
        if answer is None or not cmd.flags & gvcp.ACK_REQUIRED:
            return
        status, payload = answer
        if status != Status.SUCCESS:
            self.counters["error_acks"] += 1
            payload = b""
        self._reply(gvcp.encode_ack(status, cmd.command + 1, cmd.req_id, payload), peer)

    def _reply(self, packet: bytes, peer: tuple[str, int]) -> None:
        try:
            self._sock.sendto(packet, peer)
        except OSError as exc:
            _log.debug("GVCP answer to %s failed: %s", peer, exc)

    def _dispatch(  # noqa: PLR0911 - one return per GVCP command, as in the spec's table
        self, cmd: gvcp.CommandPacket, peer: tuple[str, int]
    ) -> tuple[int, bytes] | None:
        regs = self._registers()
        code = cmd.command
        if code == Command.DISCOVERY:
            return Status.SUCCESS, regs.read(0, bs.DISCOVERY_SIZE_BYTES)
        if code == Command.PACKETRESEND:
            self._hooks.resend(gvcp.parse_resend_cmd(cmd.payload, cmd.flags))
            return None
        if code == Command.READREG:
            return self._readreg(regs, gvcp.parse_readreg_cmd(cmd.payload))
        if code == Command.READMEM:
            address, count = gvcp.parse_readmem_cmd(cmd.payload)
            if not 0 < count <= gvcp.MAX_READMEM_BYTES:
                return Status.INVALID_PARAMETER, b""
            status = regs.check_read(address, count)
            if status != Status.SUCCESS:
                return status, b""
            return Status.SUCCESS, gvcp.readmem_ack_payload(address, regs.read(address, count))
        if code == Command.WRITEREG:
            pairs = gvcp.parse_writereg_cmd(cmd.payload)
            return self._write(cmd, peer, [(a, struct.pack(">I", v)) for a, v in pairs])
        if code == Command.WRITEMEM:
            address, data = gvcp.parse_writemem_cmd(cmd.payload)
            return self._write(cmd, peer, [(address, data)])
        return Status.NOT_IMPLEMENTED, b""

    @staticmethod
    def _readreg(regs: RegisterSpace, addresses: list[int]) -> tuple[int, bytes]:
        values = []
        for address in addresses:
            status = regs.check_read(address, 4)
            if status != Status.SUCCESS:
                return status, b""
            values.append(regs.u32(address))
        return Status.SUCCESS, gvcp.readreg_ack_payload(values)

    def _write(
        self, cmd: gvcp.CommandPacket, peer: tuple[str, int], writes: list[tuple[int, bytes]]
    ) -> tuple[int, bytes]:
        regs = self._registers()
        fault_ms = self._hooks.pending_ms()
        announced_ms = fault_ms
        if not announced_ms and peer == self.controller:  # others are refused at once
            announced_ms = self._announced_ms(regs, writes)
        if announced_ms and cmd.flags & gvcp.ACK_REQUIRED:
            ack = gvcp.encode_ack(
                Status.SUCCESS,
                Command.PENDING + 1,
                cmd.req_id,
                gvcp.pending_ack_payload(min(announced_ms, 0xFFFF)),
            )
            self._reply(ack, peer)
            self.counters["pending_acks"] += 1
        if fault_ms:
            time.sleep(fault_ms / 1000)
        done = 0
        for address, data in writes:
            if address == bs.REG_CCP and len(data) == 4:
                status = self._write_ccp(peer, int(struct.unpack(">I", data)[0]))
            elif peer != self.controller:
                status = Status.ACCESS_DENIED
            else:
                status = regs.write(address, data)
            if status != Status.SUCCESS:
                return status, b""
            done += 1
        return Status.SUCCESS, gvcp.write_ack_payload(done)

    def _announced_ms(self, regs: RegisterSpace, writes: list[tuple[int, bytes]]) -> int:
        """Return the execution time to announce in a PENDING_ACK (0: the ack is in time)."""
        if not regs.u32(bs.REG_GVCP_CONFIGURATION) & bs.GVCP_CONFIG_PENDING_ACK:
            return 0
        execution_ms = self._hooks.execution_ms(writes)
        return execution_ms if execution_ms > regs.u32(bs.REG_PENDING_TIMEOUT) else 0

    def _write_ccp(self, peer: tuple[str, int], value: int) -> int:
        if self.controller not in (None, peer):
            return Status.ACCESS_DENIED
        if value & (bs.CCP_CONTROL | bs.CCP_EXCLUSIVE):
            if self.controller is None:
                self._taken_at = time.monotonic()
                _log.info("control privilege taken by %s", peer)
            self.controller = peer
            self._last_seen = time.monotonic()
            self._registers().set_u32(bs.REG_CCP, value & 0x3)
        else:
            self.drop_control(f"released by {peer}")
        return Status.SUCCESS


class _Hooks(Protocol):
    """What the server needs from the device."""

    def resend(self, request: gvcp.ResendRequest) -> None: ...
    def control_lost(self) -> None: ...
    def tick(self) -> None: ...
    def pending_ms(self) -> int: ...
    def execution_ms(self, writes: list[tuple[int, bytes]]) -> int: ...
    def heartbeat_loss_after_s(self) -> float: ...

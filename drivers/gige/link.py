"""Control privilege and heartbeat of a GigE Vision link, with reconnection.

GigE Vision 2.x "Control Channel Privilege" and "Heartbeat": the host takes control by
writing CCP (0x0A00) and keeps it by sending GVCP traffic more often than the device's
heartbeat timeout (0x0938). Like aravis, the heartbeat thread reads CCP every
``timeout / 3`` (at most 250 ms, re-reading the timeout each time, so a changed
GevHeartbeatTimeout takes effect after one period); when the read fails (device gone) or
CCP reads back without the control bit (privilege lost), the link is marked lost with the
reason, and the thread keeps trying to take control again; once it succeeds,
``on_restored`` re-applies the configuration.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from panelgate.drivers.errors import PanelgateError, TransportError

from . import bootstrap as bs
from .control import GvcpClient
from .errors import GvcpStatusError
from .gvcp import Status

__all__ = ["ControlLink"]

_log = logging.getLogger(__name__)

_EXECUTION_S_MAX = 5.0  #: a device claiming longer command execution is not believed


class ControlLink:
    """Holds control privilege on a device and watches it.

    Parameters
    ----------
    client : GvcpClient
        Control channel.
    on_restored : callable
        Called from the heartbeat thread after control was taken back; may raise
        a panelgate error, in which case the link stays lost and it is tried again.
    """

    def __init__(self, client: GvcpClient, on_restored: Callable[[], None]) -> None:
        self._client = client
        self._on_restored = on_restored
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost_reason: str | None = None
        self.heartbeat_timeout_s = 3.0
        self.reconnects = 0
        self.changed = threading.Condition()

    def take(self) -> None:
        """Take control privilege and start the heartbeat thread.

        Raises
        ------
        TransportError
            Another host controls the device, or it does not answer.
        """
        self._take()
        self._thread = threading.Thread(target=self._run, name="gvcp-heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeat and give control back (best effort when the device is gone)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.lost_reason is None:
            try:
                self._client.write_register(bs.REG_CCP, 0)
            except PanelgateError as exc:
                _log.info("could not release control privilege: %s", exc)

    @property
    def period_s(self) -> float:
        """Heartbeat period: a third of the device's timeout, within 50-250 ms.

        The 250 ms cap (aravis uses 1 s) lets a shortened GevHeartbeatTimeout be seen before
        it expires, and detects a dead device sooner.
        """
        return max(0.05, min(self.heartbeat_timeout_s / 3, 0.25))

    def _take(self) -> None:
        try:
            self._client.write_register(bs.REG_CCP, bs.CCP_CONTROL)
            timeout_ms = self._client.read_register(bs.REG_HEARTBEAT_TIMEOUT)
        except GvcpStatusError as exc:
            if exc.status == Status.ACCESS_DENIED:
                raise TransportError(
                    f"device {self._client.address[0]} is controlled by another host "
                    "(control privilege refused)"
                ) from exc
            raise
        self.heartbeat_timeout_s = max(0.1, timeout_ms / 1000)
        self._enable_pending_ack()

    def _enable_pending_ack(self) -> None:
        """Let a slow command announce itself instead of being resent (GigE Vision 2.x).

        A device with the PENDING_ACK capability (GVCP capability bit 5) sends one only
        once the host sets "PENDING_ACK enable" in the GVCP configuration register
        (0x0954); until then it acknowledges late, within its Pending Timeout (0x0958),
        which is how long an acknowledge is then awaited.
        """
        client = self._client
        try:
            if client.read_register(bs.REG_GVCP_CAPABILITY) & bs.GVCP_CAP_PENDING_ACK:
                config = client.read_register(bs.REG_GVCP_CONFIGURATION)
                client.write_register(
                    bs.REG_GVCP_CONFIGURATION, config | bs.GVCP_CONFIG_PENDING_ACK
                )
            pending_timeout_ms = client.read_register(bs.REG_PENDING_TIMEOUT)
        except GvcpStatusError as exc:  # optional registers: keep the plain ack timeout
            _log.info("GVCP configuration not available on %s: %s", client.address[0], exc)
            return
        client.execution_s = min(pending_timeout_ms / 1000, _EXECUTION_S_MAX)

    def _mark_lost(self, reason: str) -> None:
        if self.lost_reason is None:
            _log.warning("GigE link to %s lost: %s", self._client.address[0], reason)
        with self.changed:
            self.lost_reason = reason
            self.changed.notify_all()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            if self.lost_reason is not None:
                self._try_restore()
                continue
            try:
                # two READREGs: aravis' fake camera answers only the first of several addresses
                ccp = self._client.read_register(bs.REG_CCP)
                timeout_ms = self._client.read_register(bs.REG_HEARTBEAT_TIMEOUT)
                self.heartbeat_timeout_s = max(0.1, timeout_ms / 1000)
            except PanelgateError as exc:
                self._mark_lost(f"no answer to the heartbeat ({exc})")
                continue
            if not ccp & bs.CCP_CONTROL:
                self._mark_lost("the device dropped our control privilege (heartbeat lapsed)")

    def _try_restore(self) -> None:
        try:
            self._take()
            self._on_restored()
        except PanelgateError as exc:
            _log.debug("reconnect to %s failed: %s", self._client.address[0], exc)
            return
        self.reconnects += 1
        _log.info("GigE link to %s restored", self._client.address[0])
        with self.changed:
            self.lost_reason = None
            self.changed.notify_all()

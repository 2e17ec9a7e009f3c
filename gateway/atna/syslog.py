"""Audit messages to a syslog collector over TLS: RFC 5424 messages, RFC 5425 transport.

IHE ATNA's Record Audit Event (ITI-20) sends each PS3.15 A.5 message as the MSG of an
RFC 5424 syslog message (facility 10, security/authorization; MSGID ``IHE+RFC-3881``) over
TLS (RFC 5425: TCP, port 6514 by default, each message framed as ``MSG-LEN SP
SYSLOG-MSG``). The forwarder never slows the DICOM work down: events are queued (bounded;
the oldest is dropped and counted when the collector is away for long) and sent by one
thread that reconnects with backoff. The JSON-lines trail beside it stays complete.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import os
import select
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .messages import AuditSource, audit_message

__all__ = ["SyslogForwarder", "SyslogTarget", "rfc5424"]

_log = logging.getLogger(__name__)

_FACILITY_AUTHPRIV = 10  # RFC 5424 Table 1: security/authorization messages
_NOTICE, _WARNING = 5, 4  # RFC 5424 Table 2 severities
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SyslogTarget:
    """Where audit messages go.

    Attributes
    ----------
    host, port : str, int
        The collector (RFC 5425 port 6514 by default).
    ca_file : pathlib.Path
        CA certificate(s) the collector's certificate must chain to; the host name (or IP
        address) must match it.
    cert_file, key_file : pathlib.Path or None
        Our client certificate, for collectors that require mutual authentication.
    timeout_s : float
        Connection and send timeout.
    queue_size : int
        Messages kept while the collector is unreachable; older ones are dropped.
    """

    host: str
    port: int = 6514
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    timeout_s: float = 5.0
    queue_size: int = 10_000

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"syslog port must be 1..65535, got {self.port}")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both a syslog client certificate and its key, or neither")
        if self.timeout_s <= 0 or self.queue_size <= 0:
            raise ValueError("syslog timeout_s and queue_size must be positive")

    def context(self) -> ssl.SSLContext:
        """TLS 1.2+ client context that verifies the collector (RFC 5425 5.2)."""
        ctx = ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None
        )
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file is not None and self.key_file is not None:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def rfc5424(msg: bytes, *, severity: int, when: dt.datetime, app_name: str = "panelgate") -> bytes:
    """Frame one syslog message (RFC 5424 section 6) with an UTF-8 MSG.

    Parameters
    ----------
    msg : bytes
        The UTF-8 message (here a PS3.15 A.5 XML document); a BOM is prepended.
    severity : int
        RFC 5424 severity (5 notice for success, 4 warning for failures).
    when : datetime.datetime
        The event time (aware).
    app_name : str
        APP-NAME (at most 48 printable ASCII characters).
    """
    pri = _FACILITY_AUTHPRIV * 8 + severity
    host = (socket.gethostname() or "-")[:255]
    stamp = when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    header = f"<{pri}>1 {stamp} {host} {app_name[:48]} {os.getpid()} IHE+RFC-3881 - "
    return header.encode("ascii") + _BOM + msg


def _peer_closed(sock: ssl.SSLSocket) -> bool:
    """Whether the collector closed the connection (it never sends; readable = closed).

    Writing to a closed TCP connection succeeds once and loses the message (RFC 5425 has
    no acknowledgement), so the connection is checked before each message.
    """
    readable, _w, _x = select.select([sock], [], [], 0)
    return bool(readable)


class SyslogForwarder:
    """Send the audit trail's events as ATNA messages to a collector, in the background.

    Parameters
    ----------
    target : SyslogTarget
        The collector.
    source : AuditSource
        Who reports (AuditSourceIdentification).
    """

    def __init__(self, target: SyslogTarget, source: AuditSource) -> None:
        self.target = target
        self.source = source
        self.sent = 0
        self.dropped = 0
        self._queue: collections.deque[bytes] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="audit-syslog", daemon=True)
        self._thread.start()

    def __call__(self, event: Mapping[str, Any]) -> None:
        """Queue one audit-trail event (those without an ATNA message are skipped)."""
        xml = audit_message(event, self.source)
        if xml is None:
            return
        when = dt.datetime.fromisoformat(str(event["time"]))
        severity = _NOTICE if int(event.get("outcome", 0)) == 0 else _WARNING
        frame = rfc5424(xml, severity=severity, when=when)
        with self._cond:
            if len(self._queue) >= self.target.queue_size:
                self._queue.popleft()
                self.dropped += 1
                if self.dropped == 1:
                    _log.warning("audit collector unreachable: dropping the oldest messages")
            self._queue.append(frame)
            self._cond.notify()

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (for at most ``timeout_s``), then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        sock: ssl.SSLSocket | None = None
        delay_s = 0.5
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    break
                frame = self._queue[0]
            try:
                if sock is not None and _peer_closed(sock):
                    self._close(sock)
                    sock = None
                sock = sock or self._connect()
                sock.sendall(str(len(frame)).encode("ascii") + b" " + frame)  # RFC 5425 4.3
            except OSError as exc:
                _log.warning("audit collector %s:%d: %s", self.target.host, self.target.port, exc)
                self._close(sock)
                sock = None
                with self._cond:
                    if self._closing:
                        break
                    self._cond.wait(delay_s)
                delay_s = min(delay_s * 2, 30.0)
                continue
            delay_s = 0.5
            with self._cond:
                if self._queue and self._queue[0] is frame:
                    self._queue.popleft()
                self.sent += 1
        self._close(sock)

    def _connect(self) -> ssl.SSLSocket:
        raw = socket.create_connection(
            (self.target.host, self.target.port), timeout=self.target.timeout_s
        )
        try:
            return self.target.context().wrap_socket(raw, server_hostname=self.target.host)
        except BaseException:
            raw.close()
            raise

    @staticmethod
    def _close(sock: ssl.SSLSocket | None) -> None:
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

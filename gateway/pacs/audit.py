"""An audit trail of DICOM events as JSON lines, in the spirit of IHE ATNA (PS3.15 A.5).

One line per event: when (UTC), what (``event``: instances-transferred, storage-commitment,
worklist-query, procedure-step, association-rejected), the outcome (``0`` success, ``4``
minor failure, ``8`` serious failure as in PS3.15 A.5.3), the AEs and hosts involved, and
the SOP Instance UIDs concerned. The file is append-only, 0600, and flushed per event.
Each event can also be forwarded (``forward``), e.g. as an IHE ATNA message to a syslog
collector over TLS (:mod:`panelgate.gateway.atna`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["AuditTrail"]

SUCCESS = 0
MINOR_FAILURE = 4
SERIOUS_FAILURE = 8


class AuditTrail:
    """Append audit events to a JSON-lines file (or drop them when ``path`` is None).

    Parameters
    ----------
    path : pathlib.Path or None
        The audit file; its directory must exist.
    forward : callable, optional
        Called with each event after it is written (it must not block: the ATNA syslog
        forwarder queues).
    """

    def __init__(
        self, path: Path | None, forward: Callable[[Mapping[str, Any]], None] | None = None
    ) -> None:
        self.path = path
        self.forward = forward
        self._lock = threading.Lock()

    def record(
        self,
        event: str,
        *,
        outcome: int = SUCCESS,
        local_ae: str = "",
        remote_ae: str = "",
        remote_host: str = "",
        instances: Sequence[str] = (),
        detail: str = "",
        **extra: Any,
    ) -> None:
        """Append one event; see the module docstring for the fields."""
        if self.path is None and self.forward is None:
            return
        entry = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "event": event,
            "outcome": outcome,
            "local_ae": local_ae,
            "remote_ae": remote_ae,
            "remote_host": remote_host,
            "instances": list(instances),
            "detail": detail,
            **extra,
        }
        if self.path is not None:
            line = (json.dumps(entry, sort_keys=True) + "\n").encode()
            with self._lock:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)
        if self.forward is not None:
            self.forward(entry)

    def events(self) -> list[dict[str, Any]]:
        """Every event recorded so far (for tests and ``outbox list``)."""
        if self.path is None or not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

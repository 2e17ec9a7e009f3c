"""Changes of the outbox, turned into ``delivery`` events.

The outbox (:class:`~panelgate.gateway.outbox.Outbox`) keeps each instance's state per
destination as one record file in a folder per state; the agent's workers, its Storage
Commitment listener and other processes (``panelgate outbox retry``) move them. The
gateway has no change hook, so :class:`OutboxWatch` looks at the state folders: when the
modification time of any of them changed (a record written, moved or removed), it reads
the records again and publishes what differs from the last look, one event per instance
and destination. File-system times are coarse (a few ms), so folders changed within the
last second are read again at every look: two changes in one tick are not missed. It
looks every ``interval_s`` and at once when woken (after queuing).
This is the one place that would use a change hook of the outbox, were there one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from panelgate.gateway.outbox import Outbox, Record, State

__all__ = ["DeliveryChange", "OutboxWatch"]

_log = logging.getLogger(__name__)

_COARSE_NS = 1_000_000_000  # a folder changed this recently may change again unseen

DeliveryChange = Callable[[Record | None, str, str], None]
"""``on_change(record or None, sop_instance_uid, destination)``; None: the record was released."""


class OutboxWatch:
    """A thread that reports every change of the outbox's records (see the module).

    Parameters
    ----------
    outbox : Outbox
        The outbox the agent delivers.
    on_change : DeliveryChange
        Called, from the watch's thread, for each record that appeared, changed state or
        reason, or disappeared.
    interval_s : float
        Longest time between two looks.
    """

    def __init__(self, outbox: Outbox, on_change: DeliveryChange, interval_s: float = 0.25) -> None:
        self.outbox = outbox
        self.on_change = on_change
        self.interval_s = interval_s
        self._seen: dict[tuple[str, str], Record] = {}
        self._signature: tuple[int, ...] = ()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-watch", daemon=True)

    def start(self) -> OutboxWatch:
        """Take the first look (no events for what is already there) and start watching."""
        self._signature = self._folders_signature()
        self._seen = self._records()
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look now (something was queued)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop watching, after one last look."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def records(self) -> dict[tuple[str, str], Record]:
        """Return the records seen at the last look, by (SOP Instance UID, destination)."""
        return dict(self._seen)

    def look(self) -> int:
        """Compare the outbox with the last look; report and return the number of changes."""
        signature = self._folders_signature()
        recent = time.time_ns() - max(signature, default=0) < _COARSE_NS
        if signature == self._signature and not recent:
            return 0
        self._signature = signature
        now = self._records()
        changes = 0
        for key, record in now.items():
            before = self._seen.get(key)
            if before is None or (before.state, before.reason) != (record.state, record.reason):
                self.on_change(record, *key)
                changes += 1
        for key in self._seen.keys() - now.keys():
            self.on_change(None, *key)
            changes += 1
        self._seen = now
        return changes

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self.look()
            except Exception:  # a watch that dies would silence the events for good
                _log.exception("outbox watch: could not read the outbox")
        self.look()

    def _records(self) -> dict[tuple[str, str], Record]:
        return {(r.sop_instance_uid, r.destination): r for r in self.outbox.records()}

    def _folders_signature(self) -> tuple[int, ...]:
        stamps = []
        for name in self.outbox.destinations:
            for state in State:
                folder = self.outbox.root / "destinations" / name / state.value
                try:
                    stamps.append(folder.stat().st_mtime_ns)
                except FileNotFoundError:
                    stamps.append(0)
        return tuple(stamps)

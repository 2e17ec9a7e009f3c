"""The cancel condition of one wait on a detector: the detector's own event or the caller's.

:meth:`~panelgate.drivers.Detector.read_frame` hands its hook a :class:`ReadCancel` made of
the detector's own event (set by :meth:`~panelgate.drivers.Detector.abort` and
:meth:`~panelgate.drivers.Detector.cancel_read`, or by a stream being closed) and the
event the caller passed, if any (the exposure workflow's abort). A hook that waits on a
queue or a socket in pieces checks :meth:`ReadCancel.is_set` between them, at most
:data:`CANCEL_POLL_S` apart; one that only sleeps uses :meth:`ReadCancel.wait`, which the
detector's own event wakes at once. Nothing is counted or sent per piece: a wait cut in
pieces is still one wait, and one timeout when it runs out.
"""

from __future__ import annotations

import threading
import time

from .errors import ReadCancelled

__all__ = ["CANCEL_POLL_S", "ReadCancel"]

CANCEL_POLL_S = 0.02
"""Longest a waiting hook goes without looking at its cancel condition, in seconds."""


class ReadCancel:
    """Any of a few events: set when one of them is.

    Parameters
    ----------
    own : threading.Event
        The detector's event; :meth:`wait` sleeps on it, so setting it wakes the wait.
    *others : threading.Event or None
        Events of the caller (None is ignored); looked at every :data:`CANCEL_POLL_S`.
    """

    def __init__(self, own: threading.Event, *others: threading.Event | None) -> None:
        self._own = own
        self._others = tuple(e for e in others if e is not None)

    def is_set(self) -> bool:
        """Return True once any of the events is set."""
        return self._own.is_set() or any(e.is_set() for e in self._others)

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s`` seconds or until cancelled; return True when cancelled."""
        deadline = time.monotonic() + timeout_s
        while not self.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._own.wait(min(left, CANCEL_POLL_S) if self._others else left)
        return True

    def check(self, what: str) -> None:
        """Raise :class:`ReadCancelled` naming ``what`` if cancelled.

        Raises
        ------
        ReadCancelled
            One of the events is set.
        """
        if self.is_set():
            raise ReadCancelled(f"{what}: cancelled")

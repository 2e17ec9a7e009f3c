"""Ctrl-C after the beam: secure the image first, then stop.

Once the generator has fired, the patient has been exposed and the image is the only
thing that makes that dose worth it. :class:`DeferredInterrupt` holds a SIGINT that
arrives while the image is read out, corrected and queued; the workflow stops as soon as
the image is safe. A second Ctrl-C stops at once (the workflow then keeps what it has).
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["DeferredInterrupt"]

_log = logging.getLogger(__name__)


class DeferredInterrupt:
    """Context manager that defers SIGINT in the main thread (elsewhere it does nothing)."""

    def __init__(self) -> None:
        self.pending = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True
        _log.warning(
            "interrupt: the patient has been exposed; securing the image first "
            "(interrupt again to stop at once)"
        )

"""One exposure of the station running in a thread of its own, from PREP to its image.

``POST /api/prepare`` starts the exposure and returns once the generator is READY (or the
exposure was refused); ``POST /api/expose`` presses the second stage and waits for the
image. Between the two requests the exposure lives here: :class:`ExposureJob` runs it,
says when it is READY or over (:attr:`ExposureJob.settled`), and keeps its outcome, the
result or the error, for whoever waits for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ExposureJob"]

_T = TypeVar("_T")


class ExposureJob(Generic[_T]):
    """Run ``work()`` in a thread; its outcome is kept (see the module docstring).

    Parameters
    ----------
    work : callable
        The exposure; its return value or exception is the outcome.
    on_end : callable
        Called in the job's thread once ``work`` has ended (releases the station's lock).
    """

    def __init__(self, work: Callable[[], _T], on_end: Callable[[], None]) -> None:
        self._work = work
        self._on_end = on_end
        self.settled = threading.Event()
        """Set when the generator is READY (:meth:`mark_ready`) or the exposure is over."""
        self.finished = threading.Event()
        """Set when the exposure is over (its image made, or refused, or failed)."""
        self.result: _T | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="exposure", daemon=True)

    def start(self) -> None:
        """Start the exposure's thread."""
        self._thread.start()

    def mark_ready(self) -> None:
        """Say that the generator is READY: :meth:`wait_settled` returns."""
        self.settled.set()

    def wait_settled(self, timeout_s: float) -> bool:
        """Wait until READY or over; False when neither came within ``timeout_s``."""
        return self.settled.wait(timeout_s)

    def outcome(self, timeout_s: float) -> _T:
        """Wait for the end of the exposure; return its result or raise its error.

        Raises
        ------
        TimeoutError
            Not over within ``timeout_s`` seconds.
        Exception
            The exposure's own error.
        """
        if not self.finished.wait(timeout_s):
            raise TimeoutError(f"the exposure did not end within {timeout_s:g} s")
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    def _run(self) -> None:
        try:
            self.result = self._work()
        except BaseException as exc:  # kept for the waiter, who raises it
            self.error = exc
        finally:
            try:
                self._on_end()
            finally:
                self.finished.set()
                self.settled.set()

"""Pipeline stages joined by bounded queues, each with counters (style guide principle 9).

A :class:`Stage` runs one function on items taken from its bounded input queue in its own
thread and hands each result to ``sink`` (the next stage's :meth:`Stage.put`, or a
collector). The queue policy is explicit: ``"block"`` makes :meth:`Stage.put` wait (up to
its timeout, then raise), ``"drop-oldest"`` discards the oldest queued item to make room
and counts it. Counters follow areaDetector's NDPluginDriver: ``processed``, ``dropped``,
``depth`` (queued now), ``last_latency_s`` (queue wait plus processing of the last item),
and ``errors``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar, cast

from panelgate.drivers import PanelgateError

__all__ = ["Policy", "Stage", "StageCounters", "StageError"]

_log = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")
Policy = Literal["block", "drop-oldest"]

_STOP = object()


class StageError(PanelgateError, RuntimeError):
    """A stage is full (blocking policy, timeout) or was used after stop."""


@dataclass(frozen=True)
class StageCounters:
    """A snapshot of one stage's counters."""

    name: str
    processed: int
    dropped: int
    errors: int
    depth: int
    last_latency_s: float

    def __str__(self) -> str:
        return (
            f"{self.name}: processed {self.processed}, dropped {self.dropped}, "
            f"errors {self.errors}, depth {self.depth}, "
            f"last latency {self.last_latency_s * 1e3:.1f} ms"
        )


class Stage(Generic[In, Out]):
    """One worker thread behind a bounded queue.

    Parameters
    ----------
    name : str
        For counters and logs.
    work : callable
        ``work(item) -> result``; an exception is counted and logged, the item lost.
    sink : callable
        Receives every result, in order.
    maxsize : int
        Queue capacity (≥ 1).
    policy : {"block", "drop-oldest"}
        What :meth:`put` does when the queue is full.
    """

    def __init__(
        self,
        name: str,
        work: Callable[[In], Out],
        sink: Callable[[Out], None],
        maxsize: int = 4,
        policy: Policy = "block",
    ) -> None:
        if maxsize < 1 or policy not in ("block", "drop-oldest"):
            raise ValueError(f"maxsize must be >= 1 and policy block or drop-oldest: {policy!r}")
        self.name = name
        self._work = work
        self._sink = sink
        self._policy = policy
        self._queue: queue.Queue[tuple[float, In] | object] = queue.Queue(maxsize)
        self._lock = threading.Lock()
        self._processed = 0
        self._dropped = 0
        self._errors = 0
        self._latency_s = 0.0
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> Stage[In, Out]:
        """Start the worker thread; returns self."""
        self._thread = threading.Thread(target=self._run, name=f"stage-{self.name}", daemon=True)
        self._thread.start()
        return self

    def put(self, item: In, timeout_s: float = 10.0) -> None:
        """Queue one item under the stage's policy.

        Raises
        ------
        StageError
            Stopped, or (blocking policy) still full after ``timeout_s``.
        """
        if self._stopped:
            raise StageError(f"stage {self.name} is stopped")
        entry = (time.perf_counter(), item)
        if self._policy == "block":
            try:
                self._queue.put(entry, timeout=timeout_s)
            except queue.Full:
                raise StageError(f"stage {self.name} full for {timeout_s:g} s") from None
            return
        while True:
            try:
                self._queue.put_nowait(entry)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    with self._lock:
                        self._dropped += 1
                except queue.Empty:
                    pass

    def stop(self, timeout_s: float = 30.0) -> StageCounters:
        """Finish the queued items, stop the thread, and return the final counters."""
        if not self._stopped and self._thread is not None:
            self._stopped = True
            self._queue.put(_STOP)
            self._thread.join(timeout_s)
        self._stopped = True
        return self.counters()

    def counters(self) -> StageCounters:
        """Return the current counters."""
        with self._lock:
            return StageCounters(
                self.name,
                self._processed,
                self._dropped,
                self._errors,
                self._queue.qsize(),
                self._latency_s,
            )

    def _run(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is _STOP:
                return
            queued_at, item = cast(tuple[float, In], entry)
            try:
                result = self._work(item)
                self._sink(result)
            except Exception:
                _log.exception("stage %s failed on an item", self.name)
                with self._lock:
                    self._errors += 1
                continue
            with self._lock:
                self._processed += 1
                self._latency_s = time.perf_counter() - queued_at

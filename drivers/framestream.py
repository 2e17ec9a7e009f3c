"""A continuous stream of frames: one acquiring thread, one bounded queue, counters.

:meth:`~panelgate.drivers.Detector.stream` returns a :class:`FrameStream`. Its thread runs
one exposure cycle after another and queues the frames; the reader iterates. The queue is
bounded and its policy is stated (style principle 9, after areaDetector's NDPluginDriver
and harvesters' buffers): ``"block"`` pauses the acquisition while the queue is full, so
nothing is lost; ``"drop-oldest"`` keeps acquiring and discards the oldest queued frame.
Frames belong to the reader once taken (each has its own pixel buffer).

An error of the acquisition (a timeout, a lost link) ends the stream: the reader first
gets every frame queued before it, then the error, raised from ``next()``. Closing the
stream (the end of its ``with`` block) cancels the wait in progress through the
detector's cancel event, joins the thread and returns the detector to IDLE.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from .cancel import CANCEL_POLL_S, ReadCancel
from .errors import ReadCancelled
from .frame import Frame

__all__ = ["FrameStream", "StreamCounters", "StreamPolicy"]

_log = logging.getLogger(__name__)

StreamPolicy = Literal["block", "drop-oldest"]


@dataclass(frozen=True)
class StreamCounters:
    """A snapshot of a stream's counters.

    Parameters
    ----------
    depth : int
        Frames queued now, not yet taken by the reader.
    dropped : int
        Frames discarded from a full queue (``"drop-oldest"`` only).
    delivered : int
        Frames taken by the reader.
    acquired : int
        Frames read from the detector (delivered + dropped + depth).
    last_latency_s : float
        For the last frame delivered: seconds from its readout completing (its
        ``t_mono_s``) to the reader taking it; NaN before the first.
    """

    depth: int
    dropped: int
    delivered: int
    acquired: int
    last_latency_s: float


class FrameStream:
    """Frames acquired by a thread, taken by iterating; made by ``Detector.stream()``.

    Parameters
    ----------
    acquire : callable
        ``acquire(cancel) -> Frame``: one exposure cycle, ending with ReadCancelled once
        ``cancel`` is set.
    finish : callable
        Returns the detector to IDLE; called once, by :meth:`close`.
    stop : threading.Event
        The detector's cancel event: :meth:`close` sets it; ``abort()`` may too.
    count : int or None
        Frames to acquire; None until closed.
    depth : int
        Queue capacity (>= 1).
    policy : {"block", "drop-oldest"}
        What a full queue does; see the module docstring.
    """

    def __init__(
        self,
        acquire: Callable[[ReadCancel], Frame],
        finish: Callable[[], None],
        stop: threading.Event,
        *,
        count: int | None = None,
        depth: int = 4,
        policy: StreamPolicy = "block",
    ) -> None:
        if count is not None and count < 1:
            raise ValueError(f"count must be >= 1 or None, got {count!r}")
        if depth < 1 or policy not in ("block", "drop-oldest"):
            raise ValueError(f"depth must be >= 1 and policy block or drop-oldest: {policy!r}")
        self.count, self.depth, self.policy = count, depth, policy
        self._acquire, self._finish, self._stop = acquire, finish, stop
        self._queue: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._failed = False
        self._ended = False
        self._closed = False
        self._dropped = self._delivered = self._acquired = 0
        self._latency_s = float("nan")
        self._thread = threading.Thread(target=self._run, name="frame-stream", daemon=True)

    def start(self) -> FrameStream:
        """Start the acquiring thread; returns self."""
        self._thread.start()
        return self

    # -- the reader's side -------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        """Return the oldest queued frame, waiting for one.

        Raises
        ------
        StopIteration
            ``count`` frames were delivered, or the stream was closed.
        DriverError
            The acquisition failed (after the frames queued before the failure); e.g.
            DetectorTimeout, TransportError, or ReadCancelled after ``abort()``.
        """
        with self._cond:
            while not self._queue and not self._ended:
                self._cond.wait()
            if self._queue:
                frame = self._queue.popleft()
                self._delivered += 1
                self._latency_s = time.monotonic() - frame.meta.t_mono_s
                self._cond.notify_all()
                return frame
            error, self._error = self._error, None
        if error is not None:
            raise error
        raise StopIteration

    def counters(self) -> StreamCounters:
        """Return the current counters."""
        with self._cond:
            return StreamCounters(
                len(self._queue), self._dropped, self._delivered, self._acquired, self._latency_s
            )

    def close(self) -> None:
        """Stop acquiring (cancelling the wait in progress), join the thread, go IDLE.

        Frames still queued are discarded. Safe to call more than once.

        Raises
        ------
        DriverError
            The detector could not be stopped (only when the stream had not already
            failed: after a lost link the failure was reported by ``next()``).
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join()
        try:
            self._finish()
        except Exception:
            if not self._failed:
                raise
            _log.debug("stopping the detector after a failed stream failed too", exc_info=True)

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the acquiring thread ------------------------------------------------------------
    def _run(self) -> None:
        cancel = ReadCancel(self._stop)
        try:
            while self.count is None or self._acquired < self.count:
                frame = self._acquire(cancel)
                if not self._put(frame):
                    break
        except ReadCancelled as exc:
            if not self._closed:  # abort() from elsewhere: the reader is told
                self._fail(exc)
        except Exception as exc:
            self._fail(exc)
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _put(self, frame: Frame) -> bool:
        """Queue a frame under the policy; False when the stream was closed meanwhile."""
        with self._cond:
            if self.policy == "block":
                while len(self._queue) >= self.depth and not self._stop.is_set():
                    self._cond.wait(CANCEL_POLL_S)  # abort() sets the event without notifying
                if self._stop.is_set():
                    if not self._closed:
                        raise ReadCancelled("stream: cancelled while the queue was full")
                    return False
            while len(self._queue) >= self.depth:
                self._queue.popleft()
                self._dropped += 1
            self._queue.append(frame)
            self._acquired += 1
            self._cond.notify_all()
            return True

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            self._error = exc
            self._failed = True

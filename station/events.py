"""Live events of the station, pushed to every listener of ``GET /api/events``.

The exposure workflow and the outbox report their changes from their own threads;
:class:`EventBus` hands each event to every subscriber's asyncio queue on the server's
event loop (``call_soon_threadsafe``), so that a server-sent-events stream is written as
soon as something happens, never by polling. A subscriber that stops reading falls
behind by at most ``max_queued`` events; then it is closed (its stream ends) rather
than holding memory for ever. Events never carry patient data: the workflow's states,
SOP Instance UIDs, destinations and reasons.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.responses import StreamingResponse

__all__ = ["Event", "EventBus", "Subscription", "sse_response"]


@dataclass(frozen=True)
class Event:
    """One change: ``kind`` (``exposure``, ``delivery``, ``image``, ``exam``) and its data."""

    id: int
    kind: str
    data: dict[str, Any]
    t_unix_s: float

    def sse(self) -> str:
        """Format as one server-sent event (HTML Living Standard, 9.2 Server-sent events)."""
        body = json.dumps({**self.data, "t_unix_s": self.t_unix_s}, sort_keys=True)
        return f"id: {self.id}\nevent: {self.kind}\ndata: {body}\n\n"


_CLOSED = None


class Subscription:
    """One listener's queue of events, read on the event loop it was made on."""

    def __init__(self, bus: EventBus, loop: asyncio.AbstractEventLoop, max_queued: int) -> None:
        self._bus = bus
        self._loop = loop
        self._max_queued = max_queued
        self._closed = False
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()  # bounded by _put

    def offer(self, event: Event | None) -> None:
        """Queue ``event`` from any thread (None closes the subscription)."""
        self._loop.call_soon_threadsafe(self._put, event)

    def _put(self, event: Event | None) -> None:
        if self._closed:
            return
        if event is not _CLOSED and self._queue.qsize() >= self._max_queued:
            self._bus.unsubscribe(self)  # the reader fell behind: end its stream
            event = _CLOSED
        self._closed = event is _CLOSED
        self._queue.put_nowait(event)

    async def events(self, keepalive_s: float = 15.0) -> AsyncIterator[Event | None]:
        """Yield events as they come, and None every ``keepalive_s`` without one.

        Ends when the subscription is closed.
        """
        while True:
            try:
                event = await asyncio.wait_for(self._queue.get(), keepalive_s)
            except TimeoutError:
                yield None
                continue
            if event is _CLOSED:
                return
            yield event


class EventBus:
    """Fan-out of events from any thread to the subscribers (see the module docstring).

    Parameters
    ----------
    max_queued : int
        Events a subscriber may fall behind before it is closed.
    """

    def __init__(self, max_queued: int = 1000) -> None:
        self.max_queued = max_queued
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []
        self._closed = False

    def subscribe(self) -> Subscription:
        """Subscribe from a coroutine on the server's event loop."""
        sub = Subscription(self, asyncio.get_running_loop(), self.max_queued)
        with self._lock:
            if self._closed:
                sub.offer(_CLOSED)
            else:
                self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to ``sub`` (idempotent)."""
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def publish(self, kind: str, **data: Any) -> Event:
        """Send an event to every subscriber; safe from any thread."""
        with self._lock:
            event = Event(next(self._ids), kind, data, time.time())
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub.offer(event)
            except RuntimeError:  # its event loop has closed
                self.unsubscribe(sub)
        return event

    def close(self) -> None:
        """End every subscriber's stream (at shutdown); later subscribers end at once."""
        with self._lock:
            self._closed = True
            subscribers, self._subscribers = self._subscribers, []
        for sub in subscribers:
            try:
                sub.offer(_CLOSED)
            except RuntimeError:
                pass


def sse_response(stream: AsyncIterator[str]) -> StreamingResponse:
    """Return ``stream`` as a ``text/event-stream`` response (no cache, no proxy buffering)."""
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

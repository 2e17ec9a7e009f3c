"""How a long-running command stops: SIGTERM is a requested stop, SIGINT an interruption.

``panelgate agent``, ``pacs`` and ``simulate ...`` run until told to stop. Both signals
end them cleanly (in-flight work finished, sockets closed, a last line on stdout); the exit
status tells which it was: 0 for SIGTERM (systemd's normal stop), 130 for SIGINT (Ctrl-C),
as shells report an interrupted command.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

from panelgate.drivers import EXIT_INTERRUPTED, EXIT_OK

__all__ = ["StopSignals"]


class StopSignals:
    """Context manager: SIGTERM and SIGINT set :attr:`stop`; :attr:`exit_status` says which.

    Handlers are installed only in the main thread (elsewhere the process's own handlers
    stay) and the previous ones are restored on exit.
    """

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.interrupted = False
        self._previous: dict[int, Any] = {}

    @property
    def exit_status(self) -> int:
        """130 after SIGINT, else 0."""
        return EXIT_INTERRUPTED if self.interrupted else EXIT_OK

    def wait(self) -> None:
        """Block until a stop signal arrives."""
        while not self.stop.wait(0.5):
            pass

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            self.interrupted = True
        # The handler runs in the main thread, which may hold the event's lock inside
        # Event.wait at that very moment: setting the event here could deadlock. Another
        # thread sets it as soon as the lock is free.
        threading.Thread(target=self.stop.set, name="stop-signal", daemon=True).start()

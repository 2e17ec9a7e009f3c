"""The station's start-up, phase by phase: where the time to ready goes.

:class:`StartupPhases` records when each phase of ``panelgate station``'s start-up began
and ended, in seconds since the process started (the kernel's start time of the
process, so that the interpreter and the imports count), from any thread. Once the
station is ready it logs one line at INFO (``panelgate station -v``), for example::

    start-up: ready at 1.62 s; interpreter and imports 0.00-0.78, config 0.78-0.79, ...

Phases that run side by side (the stored set read ahead and the kernels loading while
the detector connects, :mod:`.read_ahead`) show it by their overlapping times.
``benchmarks/bench_station.py`` reads this line to report the phases' medians.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

__all__ = ["StartupPhases", "process_start_mono_s"]

_T = TypeVar("_T")

_IMPORTED_MONO_S = time.monotonic()


def process_start_mono_s() -> float:
    """Return when this process started, on the :func:`time.monotonic` clock.

    From ``/proc/self/stat`` (start time in clock ticks since boot, against
    ``CLOCK_BOOTTIME``) on Linux, to a clock tick (10 ms); elsewhere, when this module was
    imported.
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        started_s = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
        age_s = time.clock_gettime(time.CLOCK_BOOTTIME) - started_s
    except (OSError, IndexError, ValueError, AttributeError):
        return _IMPORTED_MONO_S
    return time.monotonic() - max(age_s, 0.0)


class StartupPhases:
    """When each phase of a start-up began and ended (seconds since the process started).

    Parameters
    ----------
    t0_mono_s : float, optional
        The start, on the :func:`time.monotonic` clock (default: the process's start).
    """

    def __init__(self, t0_mono_s: float | None = None) -> None:
        self.t0_mono_s = process_start_mono_s() if t0_mono_s is None else t0_mono_s
        self._phases: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()

    def now_s(self) -> float:
        """Return the seconds since the start."""
        return time.monotonic() - self.t0_mono_s

    def add(self, name: str, start_s: float, end_s: float) -> None:
        """Record a phase that ran from ``start_s`` to ``end_s`` (seconds since the start)."""
        with self._lock:
            self._phases.append((name, start_s, end_s))

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Record the phase the ``with`` block runs (also when it raises)."""
        start_s = self.now_s()
        try:
            yield
        finally:
            self.add(name, start_s, self.now_s())

    def timed(self, name: str, fn: Callable[..., _T]) -> Callable[..., _T]:
        """Return ``fn`` recording each of its runs as the phase ``name`` (for threads)."""

        def run(*args: object) -> _T:
            with self.phase(name):
                return fn(*args)

        return run

    def phases(self) -> list[tuple[str, float, float]]:
        """Return the phases recorded so far, by start time."""
        with self._lock:
            return sorted(self._phases, key=lambda p: p[1])

    def summary(self, ready_s: float) -> str:
        """Return the line logged once ready: ready time, then each phase's start and end."""
        parts = [f"{name} {start:.2f}-{end:.2f}" for name, start, end in self.phases()]
        return f"ready at {ready_s:.2f} s; " + ", ".join(parts)

"""Stage timing for the pipeline summary and the benchmark.

Stages are timed around a block (:meth:`StageTimer.stage`) or recorded from durations
measured elsewhere (:meth:`StageTimer.add`: the demo's exposure phases, taken from the
exposure workflow's state changes); the table lists them in the order they were recorded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["StageTimer"]


class StageTimer:
    """Records the wall time of named stages, in the order they ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body of a ``with`` block as stage ``name`` (added to earlier runs of it)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def add(self, name: str, seconds: float) -> None:
        """Record ``seconds`` measured elsewhere as stage ``name`` (added to earlier runs of it).

        Raises
        ------
        ValueError
            A negative or not finite duration.
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"stage {name!r}: seconds must be >= 0, got {seconds!r}")
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def table(self) -> str:
        """Format the stages as an aligned two-column text table."""
        width = max((len(n) for n in self.seconds), default=5)
        lines = [f"  {name:<{width}}  {sec:7.2f} s" for name, sec in self.seconds.items()]
        lines.append(f"  {'total':<{width}}  {sum(self.seconds.values()):7.2f} s")
        return "\n".join(lines)

"""Retry with exponential backoff and jitter (the "equal jitter" scheme).

The n-th retry waits ``d/2 + uniform(0, d/2)`` seconds with
``d = min(max_s, initial_s * multiplier**(n-1))``: delays grow geometrically up to a cap,
and the random half spreads the retries of many instances or agents so that a PACS coming
back up is not hit by all of them at the same moment.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a delivery again, and when to give up.

    Parameters
    ----------
    initial_s : float
        Base delay before the first retry, in seconds.
    max_s : float
        Cap on the base delay, in seconds.
    multiplier : float
        Growth of the base delay per attempt (>= 1).
    max_attempts : int
        Attempts after which an instance goes to the dead letter folder; 0 = never give up.
    """

    initial_s: float = 1.0
    max_s: float = 300.0
    multiplier: float = 2.0
    max_attempts: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not (self.initial_s > 0 and math.isfinite(self.initial_s)):
            problems.append(f"initial_s must be positive, got {self.initial_s}")
        if not (self.max_s >= self.initial_s and math.isfinite(self.max_s)):
            problems.append(f"max_s must be >= initial_s, got {self.max_s}")
        if not (self.multiplier >= 1 and math.isfinite(self.multiplier)):
            problems.append(f"multiplier must be >= 1, got {self.multiplier}")
        if self.max_attempts < 0:
            problems.append(f"max_attempts must be >= 0 (0: unlimited), got {self.max_attempts}")
        if problems:
            raise ValueError("invalid retry policy: " + "; ".join(problems))

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        exponent = min(max(attempt - 1, 0), 64)
        base = min(self.max_s, self.initial_s * self.multiplier**exponent)
        return base / 2 + rng.uniform(0.0, base / 2)

    def gives_up(self, attempt: int) -> bool:
        """Tell whether ``attempt`` failed attempts exhaust the policy."""
        return self.max_attempts > 0 and attempt >= self.max_attempts

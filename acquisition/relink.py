"""Reconnecting a detector after a lost link: bounded attempts with backoff, same set-up.

When a read fails with :class:`~panelgate.drivers.TransportError` (a USB panel unplugged,
a GigE panel silent past its heartbeat), the caller closes what is left of the link and
calls :func:`reconnect`: it waits, connects, checks that the same detector answered (by
its serial number) and re-applies the set-up (readout mode, features), up to
:attr:`ReconnectPolicy.attempts` times, waiting ``first_wait_s`` before the first attempt
and twice as long before each next one, at most ``max_wait_s`` (0.25, 0.5, 1, 2, 4 s by
default: about 8 s in all).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from panelgate.drivers import Detector, DriverError, TransportError

__all__ = ["ReconnectPolicy", "close_quietly", "reconnect"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconnectPolicy:
    """How hard to try to get a lost detector back.

    Parameters
    ----------
    attempts : int
        Connection attempts, in all (0: never reconnect).
    first_wait_s : float
        Wait before the first attempt, in seconds; doubled before each next one.
    max_wait_s : float
        Longest wait between attempts, in seconds.
    """

    attempts: int = 5
    first_wait_s: float = 0.25
    max_wait_s: float = 4.0

    def __post_init__(self) -> None:
        if self.attempts < 0:
            raise ValueError(f"attempts must be >= 0, got {self.attempts}")
        for name in ("first_wait_s", "max_wait_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")

    def wait_s(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (0-based)."""
        return float(min(self.max_wait_s, self.first_wait_s * 2**attempt))


def close_quietly(detector: Detector) -> None:
    """Close a detector whose link is already known to be lost (its errors are expected)."""
    try:
        detector.close()
    except DriverError as exc:
        _log.debug("closing the lost detector: %s", exc)


def reconnect(
    detector: Detector,
    serial: str,
    setup: Callable[[Detector], object],
    policy: ReconnectPolicy,
    *,
    first_attempt: int = 0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Close ``detector`` and connect it again, up to the attempts the policy has left.

    Parameters
    ----------
    detector : Detector
        The detector whose link was lost.
    serial : str
        The serial number it had; another detector answering is refused.
    setup : callable
        ``setup(detector)`` re-applies the readout mode and features after connecting.
    policy : ReconnectPolicy
        Attempts and waits.
    first_attempt : int
        Attempts already made during this acquisition (they count against the policy).
    sleep : callable
        Injected for tests.

    Returns
    -------
    int
        Attempts made now (at least 1).

    Raises
    ------
    TransportError
        Every attempt left failed, or another detector answered; the message says how
        many attempts were made and the last reason.
    """
    close_quietly(detector)
    last: DriverError | None = None
    attempt = first_attempt
    while attempt < policy.attempts:
        sleep(policy.wait_s(attempt))
        attempt += 1
        try:
            info = detector.connect()
        except TransportError as exc:
            _log.info("reconnection attempt %d failed: %s", attempt, exc)
            last = exc
            continue
        if info.serial != serial:
            close_quietly(detector)
            raise TransportError(
                f"another detector answered (serial {info.serial}, expected {serial})"
            )
        try:
            setup(detector)
        except TransportError as exc:
            _log.info("set-up after reconnection attempt %d failed: %s", attempt, exc)
            close_quietly(detector)
            last = exc
            continue
        _log.info("reconnected to %s after %d attempt(s)", serial, attempt - first_attempt)
        return attempt - first_attempt
    raise TransportError(
        f"{policy.attempts} reconnection attempt(s) failed"
        + (f", the last with: {last}" if last is not None else "")
    )

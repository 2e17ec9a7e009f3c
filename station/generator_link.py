"""The station's link to its generator: probed while idle, its port reopened when broken.

Two kinds of trouble are told apart:

- **the generator does not answer, or reports a fault** (a :class:`GeneratorTimeout`, a
  :class:`GeneratorFault` such as an open interlock, garbage on the line): the port is
  fine, so it is only probed again at each upkeep; the station is not ready until the
  generator answers. Reopening the port would fix none of these, so it is not done;
- **the port itself is broken** (a :class:`GeneratorLinkError`: pyserial's ``Write
  timeout``, ``EIO`` after a USB-serial adapter was unplugged, the pty's other side gone):
  the port is closed and opened again in the background, by the same path (a udev
  ``/dev/serial/by-id`` link is re-created on replug), attempt after attempt with the
  detector's backoff (:class:`~panelgate.acquisition.relink.ReconnectPolicy`: the waits
  double from 0.25 s to ``[station] reconnect_max_wait_s``). The generator must identify
  itself as before (``IDN?``, same string); another generator on that port is refused
  (logged as an error, the port closed again, the station stays not ready) and never used.

Only generators behind a port (:class:`ReopensPort`, i.e. a
:class:`~panelgate.drivers.generator.GeneratorClient`) are reopened. The caller (the
room's upkeep) holds the device lock and never calls :meth:`GeneratorLink.probe` while an
exposure runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from panelgate.acquisition.relink import ReconnectPolicy
from panelgate.drivers import PanelgateError
from panelgate.drivers.generator import Generator, GeneratorLinkError

__all__ = ["FIRST_WAIT_S", "GeneratorLink", "ReopensPort", "ReportsState", "broken_port_of"]

_log = logging.getLogger(__name__)

FIRST_WAIT_S = 0.25
"""Wait before the first reopening attempt, doubled before each next one (as the detector's)."""

_MAX_DOUBLINGS = 30
"""Attempts past this many wait ``max_wait_s`` each (keeps ``2**n`` finite)."""


@runtime_checkable
class ReportsState(Protocol):
    """A generator that reports its state (the serial link: IDLE, PREP, READY, FAULT...)."""

    def state(self) -> str:
        """Return the generator's state."""
        ...


@runtime_checkable
class ReopensPort(Protocol):
    """A generator behind a port that can be closed and opened again (a serial link)."""

    def open(self) -> object:
        """Open the port (idempotent)."""
        ...

    def close(self) -> None:
        """Close the port (idempotent)."""
        ...


def broken_port_of(exc: BaseException) -> GeneratorLinkError | None:
    """Return the broken generator port behind a failure (itself or its cause), or None."""
    for error in (exc, exc.__cause__):
        if isinstance(error, GeneratorLinkError):
            return error
    return None


class GeneratorLink:
    """Watch one opened generator; reopen its port when it broke.

    Parameters
    ----------
    generator : Generator
        The opened generator (the same object stays in use: the hand switch and the
        workflow hold it).
    identity : str
        What it answered to ``IDN?`` when opened; a reopened port must answer the same.
    where : str
        Its port (``[station] generator``), for messages.
    max_wait_s : float
        ``[station] reconnect_max_wait_s``: the longest wait between reopening attempts.
    on_event : callable
        ``on_event("generator", state=..., fault=...)`` when it falls silent or breaks
        (``FAULT``), answers again or is reopened (``IDLE``).
    """

    def __init__(
        self,
        generator: Generator,
        identity: str,
        where: str,
        *,
        max_wait_s: float,
        on_event: Callable[..., object],
    ) -> None:
        self.generator = generator
        self.identity = identity
        self.where = where
        self.max_wait_s = max_wait_s
        self._on_event = on_event
        self.fault = ""
        """Why the generator cannot be used now (empty: it answers)."""
        self.reconnecting = False
        """True while its broken port is being reopened in the background."""
        self.attempts = 0
        """Reopening attempts made since the port broke."""
        self._next_attempt_mono_s = 0.0

    def probe(self) -> None:
        """Ask the generator its state once, or make the next reopening attempt when due."""
        if self.reconnecting:
            self._try_reopen()
            return
        generator = self.generator
        try:
            if isinstance(generator, ReportsState):
                generator.state()
            else:
                generator.limits()
        except GeneratorLinkError as exc:
            self.port_broken(str(exc))
            return
        except PanelgateError as exc:  # silent, garbage, or a fault it reports itself
            self._set_fault(str(exc))
            return
        if self.fault:
            _log.warning("the generator answers again")
            self._answers()

    def port_broken(self, reason: str) -> None:
        """Record that the generator's port broke; reopen it in the background when possible.

        Parameters
        ----------
        reason : str
            The port's failure (kept as the fault until the port is back).
        """
        if not isinstance(self.generator, ReopensPort):
            self._set_fault(reason)
            return
        if not self.reconnecting:
            _log.warning("generator port %s broke: %s; reopening it in the background",
                         self.where, reason)  # fmt: skip
            self.reconnecting = True
            self.attempts = 0
            self._next_attempt_mono_s = time.monotonic() + FIRST_WAIT_S
        self._set_fault(reason)

    # -- internals ----------------------------------------------------------------------
    def _set_fault(self, fault: str) -> None:
        if not self.fault:
            _log.warning("the generator does not answer: %s", fault)
            self._on_event("generator", state="FAULT", fault=fault)
        self.fault = fault

    def _answers(self) -> None:
        self.fault = ""
        self._on_event("generator", state="IDLE", fault="")

    def _try_reopen(self) -> None:
        generator = self.generator
        assert isinstance(generator, ReopensPort)
        if time.monotonic() < self._next_attempt_mono_s:
            return
        n = self.attempts
        self.attempts = n + 1
        policy = ReconnectPolicy(
            attempts=n + 1, first_wait_s=FIRST_WAIT_S, max_wait_s=self.max_wait_s
        )
        self._next_attempt_mono_s = time.monotonic() + policy.wait_s(min(n + 1, _MAX_DOUBLINGS))
        generator.close()
        try:
            generator.open()
            identity = self.generator.identify()
        except PanelgateError as exc:
            generator.close()
            _log.info("generator reopening attempt %d on %s: %s", n + 1, self.where, exc)
            return
        if identity != self.identity:
            generator.close()
            refused = (
                f"another generator answered on {self.where}: {identity!r} (expected "
                f"{self.identity!r}); refused, not used"
            )
            if self.fault != refused:
                _log.error("%s", refused)
                self._on_event("generator", state="FAULT", fault=refused)
            self.fault = refused
            return
        _log.warning("generator %s reopened on %s after %d attempt(s)", identity, self.where,
                     n + 1)  # fmt: skip
        self.reconnecting = False
        self.attempts = 0
        self._answers()

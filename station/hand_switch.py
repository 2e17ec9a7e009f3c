"""The two-stage hand switch between the exposure workflow and the generator.

An X-ray hand switch has two stages (IEC 60601-2-54, 203.6.4.2: preparation, then
irradiation): the first starts PREP and the generator reports READY; only the second
fires. The station's API has the same two: ``POST /api/prepare`` runs the workflow up to
READY, ``POST /api/expose`` is the second stage. :class:`HandSwitch` stands between the
workflow and the generator (it satisfies the same
:class:`~panelgate.drivers.generator.Generator` contract and passes everything through)
and holds the workflow's ``expose()`` until the second stage is pressed.

Holding is asked for each exposure (:meth:`HandSwitch.hold`); without it the switch
fires at once (one call from IDLE to the image, as ``panelgate expose`` does). A held
switch that is released (abort, or nobody pressed the second stage within ``hold_s``)
raises :class:`~panelgate.drivers.generator.ExposureAborted` (a ``GeneratorFault``, E12
"hand switch released") from ``expose()`` before
anything is sent to the generator: the workflow reports that as a refusal to fire (no
beam) and returns both devices to idle.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self

from panelgate.drivers.generator import (
    Delivered,
    ExposureAborted,
    Generator,
    TechniqueLimits,
)

__all__ = ["HandSwitch"]


class HandSwitch:
    """A generator whose ``expose()`` waits for the second stage (see the module docstring).

    Parameters
    ----------
    generator : Generator
        The generator behind the switch.
    """

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self._cond = threading.Condition()
        self._held = False
        self._hold_s = 0.0
        self._pressed = False
        self._released = False
        self._waiting = False

    @property
    def waiting(self) -> bool:
        """True while a held ``expose()`` waits for the second stage (the READY state)."""
        with self._cond:
            return self._waiting

    # -- the two stages -----------------------------------------------------------------
    def hold(self, hold_s: float) -> None:
        """Hold the next ``expose()`` until :meth:`press`, at most ``hold_s`` seconds."""
        if not hold_s > 0:
            raise ValueError(f"hold_s must be positive, got {hold_s!r}")
        with self._cond:
            self._held, self._hold_s = True, hold_s
            self._pressed = self._released = False

    def press(self) -> bool:
        """Press the second stage; False when no held ``expose()`` is waiting."""
        with self._cond:
            if not self._waiting or self._released:
                return False
            self._pressed = True
            self._cond.notify_all()
            return True

    def release(self) -> None:
        """Let go of the switch: a held ``expose()`` fires nothing and raises."""
        with self._cond:
            self._released = True
            self._held = False
            self._cond.notify_all()

    # -- the generator contract, passed through -----------------------------------------
    @property
    def confirms_exposure(self) -> bool:
        """As the generator behind."""
        return self.generator.confirms_exposure

    def identify(self) -> str:
        """As the generator behind."""
        return self.generator.identify()

    def limits(self) -> TechniqueLimits:
        """As the generator behind."""
        return self.generator.limits()

    def settings(self) -> dict[str, float]:
        """As the generator behind."""
        return self.generator.settings()

    def set_technique(self, kv: float, mas: float, ma: float | None = None) -> None:
        """As the generator behind."""
        self.generator.set_technique(kv, mas, ma)

    def prep(self) -> None:
        """As the generator behind."""
        self.generator.prep()

    def wait_ready(self, timeout_s: float, cancel: threading.Event | None = None) -> None:
        """As the generator behind."""
        self.generator.wait_ready(timeout_s, cancel)

    def expose(self) -> None:
        """Fire once the second stage is pressed (at once when not held).

        Raises
        ------
        ExposureAborted
            A ``GeneratorFault``: the switch was released, or not pressed within
            ``hold_s``: nothing was sent to the generator.
        """
        with self._cond:
            held, hold_s = self._held, self._hold_s
            self._held = False
            if held:
                self._waiting = True
                try:
                    self._cond.wait_for(lambda: self._pressed or self._released, hold_s)
                finally:
                    self._waiting = False
                if self._released or not self._pressed:
                    raise ExposureAborted(
                        12,
                        "the exposure was released before the second stage: nothing fired"
                        if self._released
                        else f"no second stage within {hold_s:g} s of READY: nothing fired",
                    )
        self.generator.expose()

    def wait_done(self, timeout_s: float, cancel: threading.Event | None = None) -> Delivered:
        """As the generator behind."""
        return self.generator.wait_done(timeout_s, cancel)

    def abort(self) -> None:
        """Release the switch, then abort the generator behind."""
        self.release()
        self.generator.abort()

    def close(self) -> None:
        """As the generator behind."""
        self.generator.close()

    def __enter__(self) -> Self:
        """Nothing to open: the generator behind is open."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave the generator behind open (its owner closes it)."""

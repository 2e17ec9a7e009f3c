"""A room without a generator link: the technique is what the technician entered.

Many rooms have no data link between the X-ray generator and the detector's workstation:
the technician sets kV and mAs on the generator's console and fires with its hand switch;
the panel detects the beam itself (AED). :class:`ManualGenerator` is the
:class:`~panelgate.drivers.generator.Generator` of such a room: it commands nothing,
is ready at once, and reports as delivered the technique entered for the image header
(PS3.3 C.8.7.2.1: KVP, Exposure in µAs and Exposure Time are then the set values, not
measured ones). The wait for the beam is the panel's (the workflow's readout timeout).
"""

from __future__ import annotations

import math
import threading
from types import TracebackType

from .protocol import Delivered, TechniqueLimits

__all__ = ["ManualGenerator"]


class ManualGenerator:
    """The :class:`Generator` of a room without a generator link (see the module docstring).

    Parameters
    ----------
    limits : TechniqueLimits
        The ranges a technique entered by hand must fall in.
    ma : float
        Tube current in mA assumed when none is entered (for the exposure time).
    """

    confirms_exposure = False
    """Nothing confirms that the technician fired: only the panel's frame shows the beam."""

    def __init__(self, limits: TechniqueLimits | None = None, ma: float = 200.0) -> None:
        if not (math.isfinite(ma) and ma > 0):
            raise ValueError(f"ma must be positive, got {ma!r}")
        self._limits = limits or TechniqueLimits()
        self._kv, self._ma, self._mas = math.nan, ma, math.nan

    def identify(self) -> str:
        """Return a description: there is no generator to ask."""
        return "no generator link (technique entered by hand)"

    def limits(self) -> TechniqueLimits:
        """Return the ranges a hand-entered technique is checked against."""
        return self._limits

    def settings(self) -> dict[str, float]:
        """Return the entered technique (NaN kV and mAs before one is entered)."""
        ms = self._mas / self._ma * 1000.0
        return {"kv": self._kv, "ma": self._ma, "ms": ms, "mas": self._mas}

    def set_technique(self, kv: float, mas: float, ma: float | None = None) -> None:
        """Record the technique the technician set on the generator's console.

        Raises
        ------
        TechniqueOutOfRange
            A value outside :meth:`limits`.
        """
        self._limits.check(kv, mas, ma if ma is not None else self._ma)
        self._kv, self._mas = kv, mas
        if ma is not None:
            self._ma = ma

    def prep(self) -> None:
        """Do nothing: the technician preps on the generator's console."""

    def wait_ready(self, timeout_s: float, cancel: threading.Event | None = None) -> None:
        """Return at once: readiness is the technician's to see."""

    def expose(self) -> None:
        """Do nothing: the technician fires with the hand switch; the panel detects the beam."""

    def wait_done(self, timeout_s: float, cancel: threading.Event | None = None) -> Delivered:
        """Return the entered technique as delivered (nothing is measured or confirmed)."""
        s = self.settings()
        return Delivered(s["kv"], s["ma"], s["ms"], s["mas"])

    def abort(self) -> None:
        """Do nothing: there is no link to stop anything through."""

    def close(self) -> None:
        """Do nothing: there is no link."""

    def __enter__(self) -> ManualGenerator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

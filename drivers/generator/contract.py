"""The generator contract: what the exposure workflow needs from an X-ray generator.

A declared capability (a ``runtime_checkable`` :class:`typing.Protocol`), not a base
class: :class:`~panelgate.drivers.generator.client.GeneratorClient` (a real generator on a
serial line) and :class:`panelgate.simulators.generator.InProcessGenerator` (the simulated
generator without a serial line) both satisfy it, and the workflow takes either.

The sequence of one radiographic exposure (IEC 60601-2-54: preparation, then irradiation
on the second stage of the hand switch)::

    set_technique(kv, mas, ma) → prep() → wait_ready(timeout_s, cancel)
        → expose() → wait_done(timeout_s, cancel) -> Delivered

``abort()`` stops whatever the generator does and returns it to IDLE. Every wait takes a
timeout and an optional cancel event; failures are the errors of
:mod:`panelgate.drivers.generator.errors`.

``confirms_exposure`` declares whether ``wait_done`` reports an exposure that really
happened (a generator on a link reports the delivered values) or only what was entered
(no generator link: :class:`~panelgate.drivers.generator.manual.ManualGenerator`); after a
failure, an exposure nobody confirmed is reported as one that MAY HAVE happened.

A generator with a dose-area product meter (IEC 60580) also satisfies
:class:`ReportsDoseAreaProduct`: the workflow then reports the DAP it measured instead of
the one computed from the technique (:mod:`panelgate.gateway.dicom.dose`).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from .protocol import Delivered, TechniqueLimits

__all__ = ["Generator", "ReportsDoseAreaProduct"]


@runtime_checkable
class Generator(Protocol):
    """An open link to one X-ray generator (see the module docstring for the sequence)."""

    @property
    def confirms_exposure(self) -> bool:
        """True when ``wait_done`` reports a real exposure (the generator saw the beam)."""
        ...

    def identify(self) -> str:
        """Return the generator's identity (maker, model, serial, firmware)."""
        ...

    def limits(self) -> TechniqueLimits:
        """Return the kV, mA and ms ranges the generator accepts."""
        ...

    def settings(self) -> dict[str, float]:
        """Return the set technique: keys ``kv``, ``ma``, ``ms``, ``mas``."""
        ...

    def set_technique(self, kv: float, mas: float, ma: float | None = None) -> None:
        """Set kV, mAs and (optionally) mA; the generator derives the time.

        Raises
        ------
        TechniqueOutOfRange
            A value outside the generator's range (nothing moved).
        """
        ...

    def prep(self) -> None:
        """Start preparation (rotor up, filament boost); READY follows."""
        ...

    def wait_ready(self, timeout_s: float, cancel: threading.Event | None = None) -> None:
        """Wait until preparation is over.

        Raises
        ------
        GeneratorTimeout
            Not ready within ``timeout_s`` seconds.
        GeneratorFault
            A fault instead (interlock, overheat); :class:`ExposureAborted` when ``cancel``
            was set.
        """
        ...

    def expose(self) -> None:
        """Fire; the generator must be ready."""
        ...

    def wait_done(self, timeout_s: float, cancel: threading.Event | None = None) -> Delivered:
        """Wait for the end of the exposure; return the kV, mA, ms and mAs delivered.

        Raises
        ------
        GeneratorTimeout
            No end within ``timeout_s`` seconds.
        GeneratorFault
            The exposure failed (aborted, interlock opened, overheat).
        """
        ...

    def abort(self) -> None:
        """Stop whatever the generator does and return it to IDLE."""
        ...

    def close(self) -> None:
        """Release the link; safe to call more than once."""
        ...

    def __enter__(self) -> Self:
        """Open the link; returns the generator."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the link."""
        ...


@runtime_checkable
class ReportsDoseAreaProduct(Protocol):
    """A generator that measures the dose-area product of each exposure (a DAP meter)."""

    def delivered_dap_dgycm2(self) -> float | None:
        """Return the DAP the meter measured for the last exposure, dGy·cm².

        Valid after ``wait_done`` returned; None when the meter gave no value for it.
        """
        ...

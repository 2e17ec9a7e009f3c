"""Errors of the X-ray generator link, below :class:`~panelgate.drivers.errors.DriverError`.

::

    DriverError
    └── GeneratorError
        ├── GeneratorTimeout       (TimeoutError)  no (complete) answer within the timeout
        ├── GeneratorLinkError     (OSError)       the serial port failed or the generator went away
        ├── GeneratorProtocolError (OSError)       bytes that are not a valid line of the protocol
        │                                          (also a :class:`panelgate.drivers.ProtocolError`)
        ├── TechniqueOutOfRange    (ValueError)    kV, mA, ms or mAs outside the generator's range
        │                                          (exit 2: refused before anything moves)
        └── GeneratorFault         (RuntimeError)  the generator reported an error code
            ├── InterlockOpen                      E10: door / table interlock open
            ├── TubeOverheat                       E11: tube heat units exhausted
            └── ExposureAborted                    E12: exposure stopped before the set mAs

Every error that carries a generator error code has it in :attr:`GeneratorFault.code`.
"""

from __future__ import annotations

from panelgate.drivers.errors import EXIT_USAGE, DriverError, ProtocolError

__all__ = [
    "ExposureAborted",
    "GeneratorError",
    "GeneratorFault",
    "GeneratorLinkError",
    "GeneratorProtocolError",
    "GeneratorTimeout",
    "InterlockOpen",
    "TechniqueOutOfRange",
    "TubeOverheat",
]


class GeneratorError(DriverError):
    """The X-ray generator or its link did not do what was asked."""


class GeneratorTimeout(GeneratorError, TimeoutError):
    """A wait on the generator (an answer, READY, exposure done) ran past its timeout."""


class GeneratorLinkError(GeneratorError, OSError):
    """The serial port could not be opened, failed, or the generator went away."""


class GeneratorProtocolError(GeneratorError, ProtocolError, OSError):
    """The generator sent bytes that are not a valid line of the protocol (garbage, overlong)."""


class TechniqueOutOfRange(GeneratorError, ValueError):
    """A technique value is outside the generator's range; the message names value and range."""

    exit_status = EXIT_USAGE


class GeneratorFault(GeneratorError, RuntimeError):
    """The generator reported an error code (``ER <code> <text>``).

    Parameters
    ----------
    code : int
        The protocol's error code (see :mod:`panelgate.drivers.generator.protocol`).
    message : str
        Human-readable text.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"generator error E{code:02d}: {message}")
        self.code = code


class InterlockOpen(GeneratorFault):
    """E10: an interlock (door, table, collimator) is open; nothing fires until it closes."""


class TubeOverheat(GeneratorFault):
    """E11: the tube's heat capacity is exhausted; wait for it to cool."""


class ExposureAborted(GeneratorFault):
    """E12: the exposure stopped before delivering the set mAs (hand switch released, abort)."""

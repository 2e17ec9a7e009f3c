"""The simulated generator without a serial line: the :class:`Generator` contract in-process.

:class:`InProcessGenerator` drives a :class:`~.model.GeneratorModel` by direct calls, with
the model's own protocol lines as answers, so that it behaves exactly as the generator
behind :mod:`.pty` does for :class:`~panelgate.drivers.generator.GeneratorClient`: same
states, ranges, timing, delivered-value deviations, faults and error codes. For the demo,
``panelgate expose --generator sim`` and unit tests; the beam reaches the panels of its
room (:mod:`panelgate.simulators.room`).
"""

from __future__ import annotations

import math
import threading
import time
from types import TracebackType

from panelgate.drivers.generator.errors import (
    ExposureAborted,
    GeneratorError,
    GeneratorLinkError,
    GeneratorTimeout,
    TechniqueOutOfRange,
)
from panelgate.drivers.generator.protocol import (
    ERR_ABORTED,
    ERR_RANGE,
    Delivered,
    Message,
    TechniqueLimits,
    decode_line,
    fault_for,
    parse_command,
    parse_delivered,
    parse_limits,
)
from panelgate.simulators.room import Room

from .model import GeneratorModel, GeneratorSpec, SimFault

__all__ = ["InProcessGenerator"]

_SLICE_S = 0.02
"""Longest single sleep of a wait, so that a cancel is noticed within it."""


class InProcessGenerator:
    """A simulated X-ray generator called directly (no pty, no thread).

    Satisfies :class:`panelgate.drivers.generator.Generator`.

    Parameters
    ----------
    spec : GeneratorSpec, optional
        Ranges and timing.
    seed : int
        Seed of the delivered-value deviations.
    room : Room, optional
        The X-ray room whose panels the beam reaches.
    """

    confirms_exposure = True
    """The simulated generator reports each exposure's end with the values delivered."""

    def __init__(
        self, spec: GeneratorSpec | None = None, seed: int = 0, room: Room | None = None
    ) -> None:
        self.model = GeneratorModel(spec or GeneratorSpec(), seed, room=room)
        self._events: list[Message] = []
        self._lock = threading.RLock()
        self._open = True

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Stop answering; safe to call more than once."""
        self._open = False

    def __enter__(self) -> InProcessGenerator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the contract ---------------------------------------------------------------------------
    def identify(self) -> str:
        """Return the ``IDN`` string (maker, model, serial, firmware)."""
        return " ".join(self._ask("IDN?").args)

    def limits(self) -> TechniqueLimits:
        """Return the kV, mA and ms ranges."""
        return parse_limits(self._ask("LIM?"))

    def settings(self) -> dict[str, float]:
        """Return the set kV, mA, ms and mAs."""
        return {
            name.lower(): float(self._ask(f"{name}?").args[0]) for name in ("KV", "MA", "MS", "MAS")
        }

    def set_technique(self, kv: float, mas: float, ma: float | None = None) -> None:
        """Set kV, (optionally) mA and mAs; the generator derives the time.

        Raises
        ------
        TechniqueOutOfRange
            A value outside the generator's range.
        """
        self._ask(f"KV {kv:.1f}")
        if ma is not None:
            self._ask(f"MA {ma:.1f}")
        self._ask(f"MAS {mas:.3f}")

    def prep(self) -> None:
        """Start preparation; READY follows after the prep time."""
        self._ask("PREP")

    def expose(self) -> None:
        """Fire (the beam is published to the room now); DONE follows."""
        self._ask("EXP")

    def abort(self) -> None:
        """Return to IDLE; pending events are dropped."""
        with self._lock:
            self._ask("ABORT")
            self._events.clear()

    def reset(self) -> None:
        """Clear a fault."""
        with self._lock:
            self._ask("RESET")
            self._events.clear()

    def wait_ready(self, timeout_s: float, cancel: threading.Event | None = None) -> None:
        """Wait for READY; see :meth:`GeneratorClient.wait_ready`."""
        self._wait("READY", timeout_s, cancel)

    def wait_done(self, timeout_s: float, cancel: threading.Event | None = None) -> Delivered:
        """Wait for DONE and return what was delivered; see :meth:`GeneratorClient.wait_done`."""
        return parse_delivered(self._wait("DONE", timeout_s, cancel))

    # -- internals --------------------------------------------------------------------------------
    def _ask(self, text: str) -> Message:
        with self._lock:
            if not self._open:
                raise GeneratorLinkError("the in-process generator is closed")
            if self.model.fault is SimFault.DISAPPEAR:
                raise GeneratorLinkError("the simulated generator went away")
            if self.model.fault is SimFault.NO_ANSWER:
                raise GeneratorTimeout(f"no answer to {text!r} from the simulated generator")
            self._collect()
            command = parse_command(text.encode("ascii"))
            if isinstance(command, tuple):
                raise GeneratorError(f"malformed command {text!r}: {command[1]}")
            answers = [decode_line(line.encode("ascii")) for line in self.model.handle(command)]
            answer = answers[0]
            if answer.kind == "ER":
                code = int(answer.name)
                reason = f"{' '.join(answer.args)} (refused {text!r})"
                if code == ERR_RANGE:
                    raise TechniqueOutOfRange(
                        f"generator refused {text!r}: {' '.join(answer.args)}"
                    )
                raise fault_for(code, reason)
            return answer

    def _collect(self) -> None:
        for line in self.model.due_events(time.monotonic()):
            self._events.append(decode_line(line.encode("ascii")))

    def _wait(self, name: str, timeout_s: float, cancel: threading.Event | None) -> Message:
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be positive and finite, got {timeout_s!r}")
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                self._collect()
                while self._events:
                    msg = self._events.pop(0)
                    if msg.name == "ERR":
                        code = int(msg.args[0]) if msg.args and msg.args[0].isdigit() else 0
                        raise fault_for(code, " ".join(msg.args[1:]) or "fault")
                    if msg.name == name:
                        return msg
                next_s = self.model.next_event_s(time.monotonic())
            if cancel is not None and cancel.is_set():
                raise ExposureAborted(ERR_ABORTED, "aborted by the host")
            left = deadline - time.monotonic()
            if left <= 0:
                raise GeneratorTimeout(
                    f"simulated generator did not report {name} within {timeout_s:g} s"
                )
            nap = min(left, _SLICE_S, next_s if next_s is not None else _SLICE_S)
            if cancel is not None:
                cancel.wait(nap)
            else:
                time.sleep(nap)

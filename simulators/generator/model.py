"""Behaviour of the simulated X-ray generator: states, ranges, timing, actual values, faults.

The model answers one parsed command at a time and keeps a list of timed events (READY
after the prep time, DONE after the exposure time); :mod:`.pty` moves its bytes over a
pseudo-terminal, :mod:`.inprocess` calls it directly. It speaks
:mod:`panelgate.drivers.generator.protocol`.

When the tube fires, the exposure is published to the model's X-ray room
(:meth:`panelgate.simulators.room.Room.publish`) before ``OK EXP`` is answered, with the
delivered values, the start time and the duration of the beam (half of each when the
exposure is aborted half-way): that is how the beam reaches the simulated panels.
"""

from __future__ import annotations

import collections
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from panelgate.drivers.generator.protocol import (
    ERR_ABORTED,
    ERR_INTERLOCK,
    ERR_OVERHEAT,
    ERR_RANGE,
    ERR_STATE,
    Command,
    Delivered,
    TechniqueLimits,
)
from panelgate.simulators.room import Room

__all__ = ["GeneratorModel", "GeneratorSpec", "SimFault"]

_log = logging.getLogger(__name__)


class SimFault(enum.Enum):
    """Faults the simulated generator shows until cleared (one-shot ones say so)."""

    NONE = "none"
    NO_ANSWER = "no-answer"  #: commands are read and ignored
    GARBAGE = "garbage"  #: the next answer is replaced by random bytes (one-shot)
    INTERLOCK = "interlock"  #: PREP and EXP refused with E10, a running prep fails
    OVERHEAT = "overheat"  #: PREP refused with E11
    ABORT_MID_EXPOSURE = "abort"  #: the next exposure stops half-way with E12 (one-shot)
    DISAPPEAR = "disappear"  #: the pseudo-terminal is closed (the cable is pulled)


@dataclass(frozen=True)
class GeneratorSpec:
    """Identity, ranges and timing of a simulated generator.

    Parameters
    ----------
    limits : TechniqueLimits
        kV, mA and ms ranges.
    prep_s : float
        Preparation time (rotor up) from PREP to READY, in seconds.
    deviation : float
        Relative standard deviation of the delivered kV, mA and time from the set values.
    time_scale : float
        Factor applied to the exposure time when waiting (0.1 = ten times faster).
    serial : str
        Serial number reported by ``IDN?``.
    """

    limits: TechniqueLimits = field(default_factory=TechniqueLimits)
    prep_s: float = 0.3
    deviation: float = 0.01
    time_scale: float = 1.0
    serial: str = "GEN-SIM-0001"

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be >= 0, got {getattr(self, name)}"
            for name in ("prep_s", "deviation", "time_scale")
            if not getattr(self, name) >= 0
        ]
        if problems:
            raise ValueError("invalid generator spec: " + "; ".join(problems))


OnExposure = Callable[[Delivered], None]
"""Called when the tube fires, with what it delivers: how the beam reaches a simulated panel."""


class GeneratorModel:
    """A generator's state machine: IDLE → PREP → READY → EXPOSING → IDLE (or FAULT).

    Parameters
    ----------
    spec : GeneratorSpec
        Ranges and timing.
    seed : int
        Seed of the delivered-value deviations.
    on_exposure : callable, optional
        Called with the delivered values when the tube fires (a test rig's probe).
    room : Room, optional
        The X-ray room the tube irradiates; without one the beam reaches no panel.
    """

    def __init__(
        self,
        spec: GeneratorSpec,
        seed: int = 0,
        on_exposure: OnExposure | None = None,
        room: Room | None = None,
    ) -> None:
        self.spec = spec
        self.fault = SimFault.NONE
        self.on_exposure = on_exposure
        self.room = room
        self.state = "IDLE"
        self.kv, self.ma, self.ms = 80.0, 200.0, 10.0
        self.exposures = 0
        self.commands: collections.deque[str] = collections.deque(maxlen=1000)
        """Names of the commands received, oldest first (the last 1000): a test rig's log."""
        self._rng = np.random.default_rng(seed)
        self._timers: list[tuple[float, str]] = []
        self._delivered: Delivered | None = None

    # -- commands -------------------------------------------------------------------------------
    def handle(self, cmd: Command) -> list[str]:
        """Answer one command; return the lines to send (without terminators)."""
        name, value = cmd.name, cmd.value
        self.commands.append(name)
        if value is not None:
            return self._set(name, value)
        if name.endswith("?"):
            return [self._query(name[:-1])]
        return getattr(self, f"_do_{name.lower()}")()  # type: ignore[no-any-return]

    def _query(self, name: str) -> str:
        limits = self.spec.limits
        answers = {
            "IDN": f"IDN panelgate,SIM-GEN-150,{self.spec.serial},1.0",
            "LIM": limits.encode(),
            "ST": f"ST {self.state}",
            "KV": f"KV {self.kv:.1f}",
            "MA": f"MA {self.ma:.1f}",
            "MS": f"MS {self.ms:.2f}",
            "MAS": f"MAS {self.ma * self.ms / 1000:.3f}",
        }
        return answers[name]

    def _set(self, name: str, value: float) -> list[str]:
        if self.state not in ("IDLE", "READY"):
            return [f"ER {ERR_STATE:02d} cannot set {name} while {self.state}"]
        limits = self.spec.limits
        ranges = {"KV": limits.kv, "MA": limits.ma, "MS": limits.ms}
        new_ms = value / self.ma * 1000 if name == "MAS" else value
        key, checked = ("MS", new_ms) if name == "MAS" else (name, value)
        low, high = ranges[key]
        if not low <= checked <= high:
            return [f"ER {ERR_RANGE:02d} {key} {checked:g} outside {low:g}-{high:g}"]
        if key == "KV":
            self.kv = value
        elif key == "MA":
            self.ma = value
        else:
            self.ms = checked
        return [f"OK {name} {value:g}"]

    def _do_prep(self) -> list[str]:
        if self.fault is SimFault.INTERLOCK:
            return [f"ER {ERR_INTERLOCK:02d} interlock open"]
        if self.fault is SimFault.OVERHEAT:
            return [f"ER {ERR_OVERHEAT:02d} tube overheat"]
        if self.state not in ("IDLE", "READY"):
            return [f"ER {ERR_STATE:02d} cannot prep while {self.state}"]
        self.state = "PREP"
        self._timers = [(time.monotonic() + self.spec.prep_s, "ready")]
        return ["OK PREP"]

    def _do_exp(self) -> list[str]:
        if self.fault is SimFault.INTERLOCK:
            return [f"ER {ERR_INTERLOCK:02d} interlock open"]
        if self.state != "READY":
            return [f"ER {ERR_STATE:02d} not ready (state {self.state})"]
        self.state = "EXPOSING"
        dev = self.spec.deviation
        kv, ma, ms = (
            float(x * (1 + np.clip(self._rng.normal(0, dev), -3 * dev, 3 * dev)))
            for x in (self.kv, self.ma, self.ms)
        )
        self._delivered = Delivered(
            round(kv, 1), round(ma, 1), round(ms, 2), round(ma * ms / 1e3, 3)
        )
        if self.on_exposure is not None:
            try:
                self.on_exposure(self._delivered)
            except Exception:
                _log.exception("the on_exposure hook failed")
        wait_s = ms / 1000 * self.spec.time_scale
        now = time.monotonic()
        if self.fault is SimFault.ABORT_MID_EXPOSURE:
            self.fault = SimFault.NONE
            self._timers = [(now + wait_s / 2, "abort")]
            self._publish(self._delivered, now, wait_s, part=0.5)
        else:
            self._timers = [(now + wait_s, "done")]
            self._publish(self._delivered, now, wait_s)
        return ["OK EXP"]

    def _publish(self, d: Delivered, start_mono_s: float, wait_s: float, part: float = 1.0) -> None:
        if self.room is None:
            return
        beam = Delivered(d.kv, d.ma, d.ms * part, d.mas * part)
        self.room.publish(self.room.pulse(beam, start_mono_s, wait_s * part))

    def _do_abort(self) -> list[str]:
        self._timers = []
        self.state = "IDLE"
        return ["OK ABORT"]

    def _do_reset(self) -> list[str]:
        self._timers = []
        self.state = "IDLE"
        return ["OK RESET"]

    # -- time -----------------------------------------------------------------------------------
    def due_events(self, now: float) -> list[str]:
        """Return the event lines whose time has come."""
        lines: list[str] = []
        while self._timers and self._timers[0][0] <= now:
            _, what = self._timers.pop(0)
            if what == "ready":
                if self.fault is SimFault.INTERLOCK:
                    self.state = "FAULT"
                    lines.append(f"EV ERR {ERR_INTERLOCK:02d} interlock open")
                else:
                    self.state = "READY"
                    lines.append("EV READY")
            elif what == "done" and self._delivered is not None:
                self.state = "IDLE"
                self.exposures += 1
                lines.append(self._delivered.encode())
            elif what == "abort":
                self.state = "FAULT"
                lines.append(f"EV ERR {ERR_ABORTED:02d} exposure aborted")
        return lines

    def next_event_s(self, now: float) -> float | None:
        """Seconds until the next timed event, or None."""
        return max(0.0, self._timers[0][0] - now) if self._timers else None

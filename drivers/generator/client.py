"""X-ray generator client over a serial port (pyserial), speaking :mod:`.protocol`.

Every wait has a timeout; every failure is one of the typed errors of :mod:`.errors`:
no answer → :class:`GeneratorTimeout`, garbage → :class:`GeneratorProtocolError`, a port
that fails or a generator that goes away → :class:`GeneratorLinkError`, an ``ER`` answer or
``EV ERR`` event → a :class:`GeneratorFault` subclass. Answers that arrive after their
command timed out, and stray garbage between commands, are drained before the next command,
so the link recovers by itself once the generator answers again.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import serial

from .errors import (
    ExposureAborted,
    GeneratorError,
    GeneratorLinkError,
    GeneratorProtocolError,
    GeneratorTimeout,
    TechniqueOutOfRange,
)
from .protocol import (
    ERR_ABORTED,
    ERR_RANGE,
    Delivered,
    LineSplitter,
    Message,
    TechniqueLimits,
    decode_line,
    encode_line,
    fault_for,
    parse_delivered,
    parse_limits,
)

__all__ = ["GeneratorClient"]

_log = logging.getLogger(__name__)

_SLICE_S = 0.02
"""Longest single blocking read; waits are made of such slices so they can be cancelled."""


class GeneratorClient:
    """A connection to one X-ray generator.

    Parameters
    ----------
    port : str
        Serial device path (``/dev/ttyUSB0``, a pty) or a pyserial URL (``loop://``).
    timeout_s : float
        Longest wait for the answer to one command, in seconds.
    baudrate : int
        Line speed in baud.
    open_port : callable, optional
        ``open_port(port, baudrate) -> serial-like``; defaults to ``serial.serial_for_url``.
    """

    confirms_exposure = True
    """The generator reports each exposure's end with the values delivered (``EV DONE``)."""

    def __init__(
        self,
        port: str,
        timeout_s: float = 1.0,
        baudrate: int = 115200,
        open_port: Callable[[str, int], Any] | None = None,
    ) -> None:
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be positive and finite, got {timeout_s!r}")
        self.port = port
        self.timeout_s = timeout_s
        self.baudrate = baudrate
        self._open_port = open_port or _open_serial
        self._serial: Any = None
        self._lines = LineSplitter()
        self._events: collections.deque[Message] = collections.deque()
        self._lock = threading.RLock()

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self) -> GeneratorClient:
        """Open the port.

        Raises
        ------
        GeneratorLinkError
            The port does not exist or cannot be opened.
        """
        with self._lock:
            if self._serial is None:
                try:
                    self._serial = self._open_port(self.port, self.baudrate)
                except (serial.SerialException, OSError, ValueError) as exc:
                    raise GeneratorLinkError(
                        f"cannot open generator port {self.port}: {exc}"
                    ) from exc
            return self

    def close(self) -> None:
        """Close the port; safe to call more than once."""
        with self._lock:
            port, self._serial = self._serial, None
            if port is not None:
                try:
                    port.close()
                except (serial.SerialException, OSError):
                    _log.debug("closing %s failed", self.port, exc_info=True)

    def __enter__(self) -> GeneratorClient:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- commands -------------------------------------------------------------------------------
    def identify(self) -> str:
        """Return the generator's ``IDN`` string (maker, model, serial, firmware)."""
        return " ".join(self._query("IDN?", "IDN").args)

    def limits(self) -> TechniqueLimits:
        """Return the kV, mA and ms ranges the generator accepts."""
        return parse_limits(self._query("LIM?", "LIM"))

    def state(self) -> str:
        """Return the generator state: IDLE, PREP, READY, EXPOSING or FAULT."""
        return self._query("ST?", "ST").args[0]

    def set_technique(self, kv: float, mas: float, ma: float | None = None) -> None:
        """Set kV, (optionally) mA and mAs; the generator derives the time.

        Raises
        ------
        TechniqueOutOfRange
            The generator refused a value (E01).
        """
        self._command(f"KV {kv:.1f}", "KV")
        if ma is not None:
            self._command(f"MA {ma:.1f}", "MA")
        self._command(f"MAS {mas:.3f}", "MAS")

    def settings(self) -> dict[str, float]:
        """Read back the set kV, mA, ms and mAs."""
        return {
            name.lower(): _number(self._query(f"{name}?", name))
            for name in ("KV", "MA", "MS", "MAS")
        }

    def prep(self) -> None:
        """Start preparation (rotor up, filament boost); READY follows as an event."""
        self._command("PREP", "PREP")

    def expose(self) -> None:
        """Fire; the generator must be READY. The DONE event follows."""
        self._command("EXP", "EXP")

    def abort(self) -> None:
        """Stop whatever the generator does and return it to IDLE; pending events are dropped."""
        with self._lock:
            self._command("ABORT", "ABORT")
            self._events.clear()

    def reset(self) -> None:
        """Clear a generator fault (after an interlock is closed again, say)."""
        with self._lock:
            self._command("RESET", "RESET")
            self._events.clear()

    def wait_ready(self, timeout_s: float, cancel: threading.Event | None = None) -> None:
        """Wait for the ``EV READY`` event that ends preparation.

        Raises
        ------
        GeneratorTimeout
            Not ready within ``timeout_s``.
        GeneratorFault
            The generator reported a fault instead (interlock, overheat...).
        ExposureAborted
            ``cancel`` was set.
        """
        self._wait_event("READY", timeout_s, cancel)

    def wait_done(self, timeout_s: float, cancel: threading.Event | None = None) -> Delivered:
        """Wait for the ``EV DONE`` event and return what was actually delivered.

        Raises
        ------
        GeneratorTimeout
            No DONE within ``timeout_s``.
        GeneratorFault
            The exposure failed (aborted, interlock opened, overheat).
        """
        return parse_delivered(self._wait_event("DONE", timeout_s, cancel))

    # -- internals --------------------------------------------------------------------------------
    def _query(self, text: str, name: str) -> Message:
        msg = self._transact(text, lambda m: m.kind == "VAL" and m.name == name)
        if not msg.args:
            raise GeneratorProtocolError(f"empty answer to {text}")
        return msg

    def _command(self, text: str, name: str) -> Message:
        return self._transact(text, lambda m: m.kind == "OK" and m.name == name)

    def _transact(self, text: str, is_answer: Callable[[Message], bool]) -> Message:
        with self._lock:
            self._drain()
            self._write(encode_line(text))
            deadline = time.monotonic() + self.timeout_s
            answer: Message | None = None
            while True:
                # a batch may hold the answer and the events behind it: keep every event
                for msg in self._read_messages(deadline, None):
                    if msg.kind == "EV":
                        self._events.append(msg)
                    elif answer is not None:
                        _log.debug("stray answer %s ignored after %s", msg, text)
                    elif msg.kind == "ER":
                        answer = msg
                    elif is_answer(msg):
                        answer = msg
                    else:
                        _log.debug("stray answer %s ignored while waiting for %s", msg, text)
                if answer is not None:
                    if answer.kind == "ER":
                        raise _refusal(answer, text)
                    return answer
                if time.monotonic() >= deadline:
                    raise GeneratorTimeout(
                        f"no answer to {text!r} from the generator on {self.port} "
                        f"within {self.timeout_s:g} s"
                    )

    def _wait_event(self, name: str, timeout_s: float, cancel: threading.Event | None) -> Message:
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be positive and finite, got {timeout_s!r}")
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                while self._events:
                    msg = self._events.popleft()
                    if msg.name == "ERR":
                        code = int(msg.args[0]) if msg.args and msg.args[0].isdigit() else 0
                        raise fault_for(code, " ".join(msg.args[1:]) or "fault")
                    if msg.name == name:
                        return msg
                    _log.debug("event %s ignored while waiting for %s", msg, name)
                if cancel is not None and cancel.is_set():
                    raise ExposureAborted(ERR_ABORTED, "aborted by the host")
                if time.monotonic() >= deadline:
                    raise GeneratorTimeout(
                        f"generator on {self.port} did not report {name} within {timeout_s:g} s"
                    )
                for msg in self._read_messages(deadline, cancel):
                    if msg.kind == "EV":
                        self._events.append(msg)
                    else:
                        _log.debug("stray answer %s ignored while waiting for %s", msg, name)

    def _read_messages(self, deadline: float, cancel: threading.Event | None) -> list[Message]:
        """Read until at least one line arrives, the deadline passes or ``cancel`` is set."""
        while True:
            data = self._read(max(1, self._in_waiting()))
            if data:
                try:
                    lines = self._lines.feed(data)
                    messages = [decode_line(line) for line in lines]
                except GeneratorProtocolError:
                    self._lines.reset()
                    raise
                if messages:
                    return messages
            if time.monotonic() >= deadline or (cancel is not None and cancel.is_set()):
                return []

    def _drain(self) -> None:
        """Take in whatever arrived since the last command: keep events, drop the rest."""
        while self._in_waiting():
            data = self._read(self._in_waiting())
            try:
                lines = self._lines.feed(data)
            except GeneratorProtocolError:
                _log.warning("garbage from the generator on %s discarded", self.port)
                self._lines.reset()
                continue
            for line in lines:
                try:
                    msg = decode_line(line)
                except GeneratorProtocolError:
                    _log.warning("garbage line from the generator on %s discarded", self.port)
                    continue
                if msg.kind == "EV":
                    self._events.append(msg)
        self._lines.reset()

    def _port(self) -> Any:
        if self._serial is None:
            raise GeneratorLinkError(f"generator port {self.port} is not open")
        return self._serial

    def _write(self, data: bytes) -> None:
        try:
            self._port().write(data)
        except (serial.SerialException, OSError) as exc:
            raise GeneratorLinkError(f"generator on {self.port} went away: {exc}") from exc

    def _read(self, size: int) -> bytes:
        try:
            return bytes(self._port().read(size))
        except (serial.SerialException, OSError) as exc:
            raise GeneratorLinkError(f"generator on {self.port} went away: {exc}") from exc

    def _in_waiting(self) -> int:
        try:
            return int(self._port().in_waiting)
        except (serial.SerialException, OSError) as exc:
            raise GeneratorLinkError(f"generator on {self.port} went away: {exc}") from exc


def _open_serial(port: str, baudrate: int) -> Any:
    return serial.serial_for_url(port, baudrate=baudrate, timeout=_SLICE_S, write_timeout=1.0)


def _number(msg: Message) -> float:
    try:
        return float(msg.args[0])
    except ValueError:
        raise GeneratorProtocolError(
            f"{msg.name} answer is not a number: {msg.args[0]!r}"
        ) from None


def _refusal(msg: Message, command: str) -> GeneratorError:
    code = int(msg.name)
    text = msg.args[0] if msg.args else ""
    if code == ERR_RANGE:
        return TechniqueOutOfRange(f"generator refused {command!r}: {text}")
    return fault_for(code, f"{text} (refused {command!r})")

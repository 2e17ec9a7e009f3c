"""The simulated generator behind a real pseudo-terminal (``os.openpty()``).

The simulator keeps the master side; drivers open :attr:`SimulatedGenerator.device_path`
(the slave, e.g. ``/dev/pts/7``) with ``serial.Serial`` exactly as they open a real port.
The slave is put in raw mode (no echo, no CR/LF translation). Modem lines are not emulated.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import tty
from types import TracebackType

import numpy as np

from panelgate.drivers.generator.errors import GeneratorProtocolError
from panelgate.drivers.generator.protocol import (
    MAX_LINE_BYTES,
    Command,
    LineSplitter,
    encode_line,
    parse_command,
)
from panelgate.simulators.room import Room

from .model import GeneratorModel, GeneratorSpec, OnExposure, SimFault

__all__ = ["SimulatedGenerator"]

_log = logging.getLogger(__name__)


class SimulatedGenerator:
    """A :class:`GeneratorModel` served on a pseudo-terminal by a background thread.

    Parameters
    ----------
    spec : GeneratorSpec, optional
        Ranges and timing.
    seed : int
        Seed of the delivered-value deviations and of garbage bytes.
    on_exposure : callable, optional
        Called with the delivered values when the tube fires (a test rig's probe).
    room : Room, optional
        The X-ray room whose panels the beam reaches (:mod:`panelgate.simulators.room`).
    """

    def __init__(
        self,
        spec: GeneratorSpec | None = None,
        seed: int = 0,
        on_exposure: OnExposure | None = None,
        room: Room | None = None,
    ) -> None:
        self.model = GeneratorModel(spec or GeneratorSpec(), seed, on_exposure, room)
        self._rng = np.random.default_rng(seed + 1)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.device_path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="sim-generator", daemon=True)

    @property
    def fault(self) -> SimFault:
        """The fault shown now (see :class:`SimFault`); assign to inject or clear one."""
        return self.model.fault

    @fault.setter
    def fault(self, value: SimFault) -> None:
        with self._lock:
            self.model.fault = value

    def start(self) -> SimulatedGenerator:
        """Start serving; returns self."""
        self._thread.start()
        _log.info("simulated generator on %s", self.device_path)
        return self

    def stop(self) -> None:
        """Stop serving and close the pseudo-terminal."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._master = self._slave = -1

    def __enter__(self) -> SimulatedGenerator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- serving ----------------------------------------------------------------------------------
    def _serve(self) -> None:
        lines = LineSplitter()
        while not self._stop.is_set():
            if self.model.fault is SimFault.DISAPPEAR:
                self._disappear()
                return
            wait_s = self.model.next_event_s(time.monotonic())
            ready, _, _ = select.select([self._master], [], [], min(0.02, wait_s or 0.02))
            with self._lock:
                out: list[str] = []
                if ready:
                    try:
                        data = os.read(self._master, 4096)
                    except OSError:
                        data = b""
                    try:
                        received = lines.feed(data)
                    except GeneratorProtocolError:
                        received = []
                    for line in received:
                        out.extend(self._answer(line))
                out.extend(self.model.due_events(time.monotonic()))
                for text in out:
                    self._send(text)

    def _answer(self, line: bytes) -> list[str]:
        fault = self.model.fault
        if fault is SimFault.NO_ANSWER:
            return []
        parsed = parse_command(line)
        if isinstance(parsed, Command):
            answer = self.model.handle(parsed)
        else:
            code, text = parsed
            answer = [f"ER {code:02d} {text}"]
        if fault is SimFault.GARBAGE:
            self.model.fault = SimFault.NONE
            noise = self._rng.integers(0, 256, size=int(self._rng.integers(8, MAX_LINE_BYTES)))
            os.write(self._master, bytes(noise.astype(np.uint8)) + b"\xff\r\n")
            return []
        return answer

    def _send(self, text: str) -> None:
        try:
            os.write(self._master, encode_line(text))
        except OSError:
            _log.debug("simulated generator could not write %r", text)

    def _disappear(self) -> None:
        _log.info("simulated generator on %s disappears", self.device_path)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._master = self._slave = -1

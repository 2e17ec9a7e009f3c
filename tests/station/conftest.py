"""The station as a subprocess, with real peers: dcmtk wlmscpfs, Orthanc, a simulated generator.

The station runs as the ``panelgate`` console script (the product's entry point) with a
TOML configuration made per test; its API listens on a free port (port 0, read from its
first line). The generator is simulated on a pseudo-terminal in the test process, so the
test reads the generator's own command log (no PREP after a refusal). Orthanc is the
gateway suite's restartable one that sends Storage Commitment reports to AE AGENT.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator
from panelgate.simulators.room import Room

START_TIMEOUT_S = 120.0  # the first start compiles the correction kernel (numba cache)
STATION_AE = "AGENT"  # the AE the gateway suite's Orthanc sends commitment reports to
PANELGATE = str(Path(sys.executable).with_name("panelgate"))


def _load_gateway_fixtures() -> Any:
    path = Path(__file__).resolve().parents[1] / "integration" / "gateway" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_station_gateway_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OrthancSC = _load_gateway_fixtures().OrthancSC


@pytest.fixture
def orthanc(require_peer: Callable[[str], str], get_free_port: Callable[[], int], tmp_path: Path):  # type: ignore[no-untyped-def]
    """A started Orthanc (restartable, same data) that reports commitment to AGENT."""
    exe = require_peer("Orthanc")
    root = Path("/tmp") / f"pg-station-orthanc-{os.getpid()}-{id(tmp_path)}"
    root.mkdir()
    root.chmod(0o755)
    ports: list[int] = []
    while len(ports) < 3:
        port = get_free_port()
        if port not in ports:
            ports.append(port)
    peer = OrthancSC(exe, root, ports)
    try:
        peer.start()
        yield peer
    finally:
        peer.stop()
        subprocess.run(["rm", "-rf", str(root)], check=False)


def room_dir(tmp_path: Path) -> Path:
    """The simulated X-ray room of a test: the generator's beam reaches the panels there."""
    return tmp_path / "room"


def panel_url(tmp_path: Path, base: str = "sim://?width=128&height=128&seed=3&serial=ST-1") -> str:
    """A simulated panel's URL standing in the test's room."""
    return f"{base}&room={room_dir(tmp_path)}"


@pytest.fixture
def generator(tmp_path: Path) -> Iterator[SimulatedGenerator]:
    """A simulated generator on a pty in this process, in the test's room (log readable)."""
    room = Room(room_dir(tmp_path))
    with SimulatedGenerator(GeneratorSpec(prep_s=0.05, time_scale=0.1), seed=4, room=room) as sim:
        yield sim


def station_toml(
    tmp_path: Path,
    generator: str,
    *,
    orthanc: Any = None,
    worklist_port: int | None = None,
    station: dict[str, Any] | None = None,
    detector: str | None = None,
    calibration: dict[str, Any] | None = None,
    retry: dict[str, Any] | None = None,
    outbox: dict[str, Any] | None = None,
    extra: str = "",
) -> Path:
    """Write a station configuration; returns its path.

    By default the panel is ``sim://`` 128² in the test's room, quickly calibrated at
    start-up (``quick_calibration = true``); ``calibration``, ``retry`` and ``outbox`` add
    keys to those sections, ``extra`` is TOML text appended (``[[protocols]]``, ...).
    """
    table = {"host": "127.0.0.1", "port": 0, "generator": generator,
             "state_dir": str(tmp_path / "state"), "quick_calibration": True,
             **(station or {})}  # fmt: skip
    lines = [
        "[station]",
        *(f"{k} = {json.dumps(v)}" for k, v in table.items()),
        "[detector]",
        f"url = {json.dumps(detector or panel_url(tmp_path))}",
        "[calibration]",
        *(f"{k} = {json.dumps(v)}" for k, v in (calibration or {}).items()),
        "[dicom]",
        f'calling_ae = "{STATION_AE}"',
        "[outbox]",
        "retention_s = 3600",
        "poll_s = 0.2",
        "reserve_mb = 0",
        "commit_timeout_s = 30",
        *(f"{k} = {json.dumps(v)}" for k, v in (outbox or {}).items()),
        "[retry]",
        "initial_s = 0.2",
        "max_s = 1",
        *(f"{k} = {json.dumps(v)}" for k, v in (retry or {}).items()),
    ]
    if orthanc is not None:
        lines += [
            "[listener]",
            f'ae_title = "{STATION_AE}"',
            f"port = {orthanc.agent_port}",
            f'allowed_calling_aes = ["{orthanc.aet}"]',
            "[destinations.orthanc]",
            'host = "127.0.0.1"',
            f"port = {orthanc.dicom_port}",
            f'called_ae = "{orthanc.aet}"',
            "commitment = true",
            "connect_s = 2",
        ]
    else:  # a destination nobody listens on: images stay queued
        lines += ["[destinations.nowhere]", 'host = "127.0.0.1"', "port = 9", "connect_s = 1"]
    if worklist_port is not None:
        lines += ["[worklist]", 'host = "127.0.0.1"', f"port = {worklist_port}",
                  'called_ae = "WLAE"']  # fmt: skip
    path = tmp_path / "station.toml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


@dataclass
class Events:
    """Server-sent events read by a thread from ``GET /api/events``."""

    items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [data for k, data in self.items if k == kind]


class StationProcess:
    """One ``panelgate station`` process."""

    def __init__(self, config: Path, log_dir: Path) -> None:
        self.config = config
        self.log_dir = log_dir
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.first_line = ""
        self.runs = 0

    def start(self) -> StationProcess:
        self.runs += 1
        self.stderr_path = self.log_dir / f"station-{self.runs}.err"
        with self.stderr_path.open("w") as err:
            self.proc = subprocess.Popen(
                [PANELGATE, "station", "--config", str(self.config), "--seed", "1"],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
                cwd=self.log_dir,
            )  # fmt: skip
        assert self.proc.stdout is not None
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(START_TIMEOUT_S)
        line = found[0] if found else ""
        match = re.search(r"API on (https?://[\d.]+:\d+)/api/", line)
        if match is None:
            self.proc.kill()
            pytest.fail(f"the station did not start: {line!r}; stderr: {self.stderr()}")
        self.first_line = line
        self.url = match.group(1)
        return self

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-4000:]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, trust_env=False)

    def signal(self, signum: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(signum)
        return self._reap(60)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self._reap(30)

    def _reap(self, timeout_s: float) -> int:
        assert self.proc is not None
        try:
            self.rest_of_stdout = self.proc.stdout.read() if self.proc.stdout else ""
            return self.proc.wait(timeout=timeout_s)
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()

    def read_events(self) -> Events:
        """Start a thread that collects the server-sent events until the stream ends."""
        events = Events()

        def run() -> None:
            with httpx.Client(base_url=self.url, timeout=None, trust_env=False) as client:
                with client.stream("GET", "/api/events") as response:
                    kind = ""
                    for line in response.iter_lines():
                        events.connected.set()
                        if line.startswith("event: "):
                            kind = line.removeprefix("event: ")
                        elif line.startswith("data: "):
                            with events.lock:
                                events.items.append((kind, json.loads(line[6:])))

        threading.Thread(target=run, daemon=True).start()
        assert events.connected.wait(30), "no event stream"
        return events

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def start_station(tmp_path: Path) -> Iterator[Callable[[Path], StationProcess]]:
    """``start_station(config)`` starts ``panelgate station``; every one is stopped after."""
    started: list[StationProcess] = []

    def start(config: Path) -> StationProcess:
        process = StationProcess(config, tmp_path).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = 90.0) -> Any:
    """Poll ``check`` until it returns something true; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last: {value!r}")
        time.sleep(0.1)


@pytest.fixture
def helpers(dx_worklist_item: Callable[..., str]) -> Any:
    """The helpers above, for the test modules (importlib mode cannot import a conftest).

    ``item`` is a worklist step scheduled for the station's AE.
    """

    class Helpers:
        config = staticmethod(station_toml)
        item = staticmethod(functools.partial(dx_worklist_item, station_ae=STATION_AE))
        until = staticmethod(wait_for)
        panel_url = staticmethod(panel_url)
        room = staticmethod(room_dir)

    return Helpers

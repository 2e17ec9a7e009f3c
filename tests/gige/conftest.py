"""GigE Vision tests: every device and client runs inside a loopback-only network namespace.

GigE Vision discovery broadcasts, and no packet may leave loopback. Tests that open a GigE
socket live in ``netns_*.py`` modules, which the normal collection ignores; the outer test
``test_in_namespace.py`` re-runs each of them as ``unshare -n sh -c 'ip link set lo up &&
exec pytest ...'``. Inside, the autouse fixture below checks that loopback is the only
interface and FAILS the test otherwise, so a netns module can never run in the open.
Pure protocol tests (``test_*.py``) open no sockets and run as usual.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def only_loopback() -> bool:
    """True when the only network interface of this process's namespace is ``lo``."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@pytest.fixture(autouse=True)
def _gige_network_guard(request: pytest.FixtureRequest) -> None:
    """Fail a netns_* test that is not inside a loopback-only namespace."""
    if Path(str(request.node.fspath)).name.startswith("netns_") and not only_loopback():
        interfaces = [name for _, name in socket.if_nameindex()]
        pytest.fail(
            f"GigE test outside a loopback-only network namespace (interfaces {interfaces}); "
            "it must be run by tests/gige/test_in_namespace.py under unshare -n"
        )


def wait_for_udp_port(port: int, timeout_s: float = 30.0) -> None:
    """Wait until something answers GVCP READREG on 127.0.0.1:``port``."""
    from panelgate.drivers.gige import GvcpClient, GvcpTiming  # noqa: PLC0415

    deadline = time.monotonic() + timeout_s
    client = GvcpClient("127.0.0.1", port, GvcpTiming(0.1, 1))
    try:
        while time.monotonic() < deadline:
            try:
                client.read_register(0)
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"no GVCP device on 127.0.0.1:{port} after {timeout_s} s")
    finally:
        client.close()


@pytest.fixture
def wait_gvcp() -> Callable[..., None]:
    """``wait_gvcp(port=3956)`` waits until a GVCP device answers on 127.0.0.1."""
    return wait_for_udp_port


class Process:
    """A child process started for a test, stopped (by its pid) at teardown."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.argv = argv
        self.log = log
        self._file = log.open("w")
        self.proc = subprocess.Popen(argv, stdout=self._file, stderr=subprocess.STDOUT)

    def stop(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._file.close()

    def output(self) -> str:
        self._file.flush()
        return self.log.read_text(errors="replace")


@pytest.fixture
def start_process(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """``start_process(argv, name)`` starts a child; all are stopped at teardown."""
    started: list[Process] = []

    def start(argv: list[str], name: str = "proc") -> Process:
        process = Process(argv, tmp_path / f"{name}-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


def panelgate_argv(*args: str) -> list[str]:
    """Argv running the panelgate console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("panelgate")
    return [str(script) if script.exists() else "panelgate", *args]


@pytest.fixture
def gige_simulator(start_process: Callable[..., Process]) -> Callable[..., Process]:
    """``gige_simulator(*extra_args)`` runs ``panelgate simulate gige`` on 127.0.0.1:3956."""

    def start(*extra: str) -> Process:
        process = start_process(
            panelgate_argv("simulate", "gige", "--address", "127.0.0.1", *extra), "simulator"
        )
        try:
            wait_for_udp_port(3956)
        except TimeoutError:
            process.stop()
            pytest.fail("the simulator did not start:\n" + process.output())
        return process

    return start

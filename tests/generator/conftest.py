"""A simulated generator on a pty and a client connected to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from panelgate.drivers.generator import GeneratorClient
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator


@pytest.fixture
def sim_generator() -> Iterator[SimulatedGenerator]:
    with SimulatedGenerator(GeneratorSpec(prep_s=0.05, time_scale=0.1), seed=5) as sim:
        yield sim


@pytest.fixture
def client(sim_generator: SimulatedGenerator) -> Iterator[GeneratorClient]:
    with GeneratorClient(sim_generator.device_path, timeout_s=0.3) as c:
        yield c


class ScriptedPort:
    """A serial-like port that answers every command with the same bytes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.pending = b""

    def write(self, data: bytes) -> int:
        self.pending += self.answer
        return len(data)

    @property
    def in_waiting(self) -> int:
        return len(self.pending)

    def read(self, size: int) -> bytes:
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    def close(self) -> None:
        pass


@pytest.fixture(scope="session")
def scripted_port() -> type[ScriptedPort]:
    """The class of a serial-like port answering every command with fixed bytes.

    Session-scoped so that hypothesis tests may use it.
    """
    return ScriptedPort

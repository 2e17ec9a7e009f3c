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

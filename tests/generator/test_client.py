"""The generator client against the simulated generator on a real pseudo-terminal."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from panelgate.drivers.generator import (
    Delivered,
    ExposureAborted,
    GeneratorClient,
    GeneratorLinkError,
    GeneratorProtocolError,
    GeneratorTimeout,
    InterlockOpen,
    TechniqueOutOfRange,
    TubeOverheat,
)
from panelgate.simulators.generator import SimFault, SimulatedGenerator


def _expose(client: GeneratorClient, kv: float = 120, mas: float = 2) -> Delivered:
    client.set_technique(kv, mas)
    client.prep()
    client.wait_ready(2)
    client.expose()
    return client.wait_done(2)


def test_identify_limits_and_read_back(client: GeneratorClient) -> None:
    assert "GEN-SIM-0001" in client.identify()
    assert client.limits().kv == (40.0, 150.0)
    client.set_technique(kv=110, mas=4, ma=400)
    assert client.settings() == {"kv": 110.0, "ma": 400.0, "ms": 10.0, "mas": 4.0}
    assert client.state() == "IDLE"


def test_exposure_reports_actual_values_close_to_set(
    client: GeneratorClient, sim_generator: SimulatedGenerator
) -> None:
    fired: list[Delivered] = []
    sim_generator.model.on_exposure = fired.append
    delivered = _expose(client)
    assert fired == [delivered]
    assert delivered != Delivered(120, 200, 10, 2)
    assert delivered.kv == pytest.approx(120, rel=0.05)
    assert delivered.mas == pytest.approx(2, rel=0.1)
    assert client.state() == "IDLE"


def test_out_of_range_is_refused_by_the_generator(client: GeneratorClient) -> None:
    with pytest.raises(TechniqueOutOfRange, match="KV 160 outside 40-150"):
        client.set_technique(kv=160, mas=2)


def test_expose_without_prep_is_refused(client: GeneratorClient) -> None:
    with pytest.raises(Exception, match=r"E04.*not ready"):
        client.expose()


def test_no_answer_times_out_then_recovers(
    client: GeneratorClient, sim_generator: SimulatedGenerator
) -> None:
    sim_generator.fault = SimFault.NO_ANSWER
    start = time.monotonic()
    with pytest.raises(GeneratorTimeout, match=r"no answer to 'ST\?' .* within 0.3 s"):
        client.state()
    assert time.monotonic() - start < 1.0
    sim_generator.fault = SimFault.NONE
    assert _expose(client).kv > 0


def test_garbage_is_a_protocol_error_then_recovers(
    client: GeneratorClient, sim_generator: SimulatedGenerator
) -> None:
    sim_generator.fault = SimFault.GARBAGE
    with pytest.raises(GeneratorProtocolError):
        client.state()
    assert client.state() == "IDLE"


@pytest.mark.parametrize(
    ("fault", "error"), [(SimFault.INTERLOCK, InterlockOpen), (SimFault.OVERHEAT, TubeOverheat)]
)
def test_prep_refused_with_typed_fault(
    client: GeneratorClient, sim_generator: SimulatedGenerator, fault: SimFault, error: type
) -> None:
    sim_generator.fault = fault
    with pytest.raises(error):
        client.prep()
    sim_generator.fault = SimFault.NONE
    client.reset()
    assert _expose(client).kv > 0


def test_interlock_opening_during_prep_is_reported(
    client: GeneratorClient, sim_generator: SimulatedGenerator
) -> None:
    client.prep()
    sim_generator.fault = SimFault.INTERLOCK
    with pytest.raises(InterlockOpen, match="E10"):
        client.wait_ready(2)
    assert client.state() == "FAULT"


def test_abort_mid_exposure(client: GeneratorClient, sim_generator: SimulatedGenerator) -> None:
    sim_generator.fault = SimFault.ABORT_MID_EXPOSURE
    with pytest.raises(ExposureAborted, match="E12"):
        _expose(client)
    client.reset()
    assert _expose(client).mas > 0


def test_host_cancel_ends_a_wait(client: GeneratorClient) -> None:
    cancel = threading.Event()
    client.prep()
    cancel.set()
    client.abort()
    with pytest.raises(ExposureAborted, match="by the host"):
        client.wait_ready(5, cancel)


def test_generator_that_disappears_is_a_link_error(
    client: GeneratorClient, sim_generator: SimulatedGenerator
) -> None:
    sim_generator.fault = SimFault.DISAPPEAR
    time.sleep(0.1)
    with pytest.raises(GeneratorLinkError, match="went away"):
        for _ in range(3):
            client.state()


def test_missing_port_is_a_link_error() -> None:
    with pytest.raises(GeneratorLinkError, match="cannot open generator port /nonexistent"):
        GeneratorClient("/nonexistent/tty").open()


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        GeneratorClient("loop://", timeout_s=0)


def test_event_in_the_same_read_as_the_answer_is_kept(scripted_port: type[Any]) -> None:
    port = scripted_port(b"OK EXP\r\nEV DONE KV=120.1 MA=200 MS=10 MAS=2.001\r\n")
    with GeneratorClient("fake", open_port=lambda p, b: port) as client:
        client.expose()
        assert client.wait_done(0.1).kv == 120.1

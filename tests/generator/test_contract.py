"""The generator contract: the serial client and the in-process simulator both satisfy it.

Issue 12: the workflow takes a :class:`Generator`, not the serial class; the in-process
simulated generator behaves as the one behind the pty (same model, same errors).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from panelgate.acquisition.config import Config
from panelgate.acquisition.pipeline import Pipeline
from panelgate.acquisition.workflow import (
    CalibrationHolder,
    ExposureWorkflow,
    quick_calibration,
)
from panelgate.drivers.generator import (
    ExposureAborted,
    Generator,
    GeneratorClient,
    GeneratorLinkError,
    GeneratorTimeout,
    InterlockOpen,
    ManualGenerator,
    TechniqueOutOfRange,
)
from panelgate.simulators import SimulatedDetector
from panelgate.simulators.generator import (
    GeneratorSpec,
    InProcessGenerator,
    SimFault,
    SimulatedGenerator,
)

FAST = GeneratorSpec(prep_s=0.05, time_scale=0.1)


@pytest.fixture(params=["pty", "in-process"])
def generator(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[Generator, SimulatedGenerator | InProcessGenerator]]:
    """A generator behind the contract, and the simulator whose faults it shows."""
    if request.param == "in-process":
        with InProcessGenerator(FAST, seed=5) as gen:
            yield gen, gen
        return
    with (
        SimulatedGenerator(FAST, seed=5) as sim,
        GeneratorClient(sim.device_path, timeout_s=0.3) as client,
    ):
        yield client, sim


def test_both_generators_satisfy_the_contract() -> None:
    assert isinstance(GeneratorClient("loop://"), Generator)
    assert isinstance(InProcessGenerator(), Generator)
    assert isinstance(ManualGenerator(), Generator)
    assert not isinstance(object(), Generator)


def test_one_exposure_through_the_contract(generator: tuple[Generator, object]) -> None:
    gen, _ = generator
    assert "SIM-GEN" in gen.identify()
    ms = gen.limits().check(100, 2.0, gen.settings()["ma"])
    gen.set_technique(100, 2.0)
    assert gen.settings()["ms"] == pytest.approx(ms)
    gen.prep()
    gen.wait_ready(5.0)
    gen.expose()
    delivered = gen.wait_done(5.0)
    assert delivered.kv == pytest.approx(100, rel=0.05)
    assert delivered.mas == pytest.approx(2.0, rel=0.1)


def test_the_same_refusals_and_faults(
    generator: tuple[Generator, SimulatedGenerator | InProcessGenerator],
) -> None:
    gen, sim = generator
    with pytest.raises(TechniqueOutOfRange, match="KV 160"):
        gen.set_technique(160, 2.0)
    sim.model.fault = SimFault.INTERLOCK
    with pytest.raises(InterlockOpen):
        gen.prep()
    sim.model.fault = SimFault.NONE
    gen.set_technique(80, 1.0)
    gen.prep()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ExposureAborted, match="aborted by the host"):
        gen.wait_done(5.0, cancel)
    gen.abort()
    with pytest.raises(GeneratorTimeout, match="READY"):
        gen.wait_ready(0.02)  # IDLE after the abort: no READY comes


def test_in_process_generator_without_answers_or_gone() -> None:
    gen = InProcessGenerator(FAST)
    gen.model.fault = SimFault.NO_ANSWER
    with pytest.raises(GeneratorTimeout):
        gen.identify()
    gen.model.fault = SimFault.DISAPPEAR
    with pytest.raises(GeneratorLinkError, match="went away"):
        gen.prep()
    gen.model.fault = SimFault.NONE
    gen.close()
    with pytest.raises(GeneratorLinkError, match="closed"):
        gen.identify()


def test_the_workflow_takes_the_contract_and_refuses_anything_else(tmp_path: Path) -> None:
    with SimulatedDetector.from_url("sim://?width=64&height=64") as det:
        pipeline = Pipeline(det, Config(), beam=det.irradiate)
        pipeline.configure(64, 64)
        holder = CalibrationHolder(quick_calibration(pipeline, frames=2))
        workflow = ExposureWorkflow(pipeline, InProcessGenerator(), holder, tmp_path)
        assert isinstance(workflow.generator, Generator)
        with pytest.raises(TypeError, match="Generator contract"):
            ExposureWorkflow(pipeline, object(), holder, tmp_path)  # type: ignore[arg-type]

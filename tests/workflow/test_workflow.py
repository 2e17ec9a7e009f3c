"""The exposure workflow over each simulated panel with the simulated generator on a pty."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest

from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.workflow import (
    TRANSITIONS,
    ExposureRequest,
    ExposureState,
    ExposureWorkflow,
    TriggerMode,
    WorkflowAborted,
    parse_protocol,
)
from panelgate.drivers import DetectorState, IncompatibleState
from panelgate.drivers.generator import (
    GeneratorLinkError,
    GeneratorProtocolError,
    GeneratorTimeout,
    InterlockOpen,
    TechniqueOutOfRange,
)
from panelgate.gateway.dicom import StudyContext
from panelgate.simulators.generator import SimFault

from .conftest import Rig

STUDY = StudyContext(patient_name="Doe^Jane", patient_id="PID-1")
REQUEST = ExposureRequest(kv=120, mas=2, study=STUDY, protocol="CHEST PA")
FLOW = ["preparing", "ready", "exposing", "readout", "processing", "queued"]


def _path(rig: Rig) -> list[str]:
    return [c.new.value for c in rig.states]


def test_transition_table_is_complete_and_closed() -> None:
    states = {s for s, _ in TRANSITIONS} | set(TRANSITIONS.values())
    assert states == set(ExposureState)
    for state in ExposureState:
        if state is not ExposureState.IDLE:
            assert TRANSITIONS[(state, "abort")] is ExposureState.IDLE


@pytest.mark.parametrize("trigger", list(TriggerMode))
def test_exposure_ends_queued_with_the_delivered_technique(rig: Rig, trigger: TriggerMode) -> None:
    wf = rig.make_workflow(trigger)
    result = wf.run(REQUEST)
    assert _path(rig) == FLOW
    ds = pydicom.dcmread(result.spool_path)
    assert float(ds.KVP) == pytest.approx(result.delivered.kv, abs=0.05)
    assert int(ds.ExposureInuAs) == round(result.delivered.mas * 1000)
    assert result.delivered.kv != 120.0 or result.delivered.mas != 2.0
    assert ds.BodyPartExamined == "CHEST" and ds.PatientID == "PID-1"
    assert result.preview_path.exists()
    assert np.mean(ds.pixel_array) > 150, "the generator's dose reached the panel"
    assert rig.detector.status().state is DetectorState.IDLE
    rig.states.clear()
    wf.run(REQUEST)
    assert _path(rig) == ["idle", *FLOW]


def test_stale_dark_is_refreshed_first(rig: Rig) -> None:
    old = rig.workflow
    calls: list[str] = []

    def take_dark() -> None:
        calls.append(old.detector.status().state.value)
        old.calibration.refresh_dark(old.pipeline)

    wf = ExposureWorkflow(
        old.pipeline, rig.client, old.calibration, old.spool_dir,
        dark_is_stale=lambda: True, take_dark=take_dark,
    )  # fmt: skip
    dark_before = old.calibration.calibration.dark
    assert wf.run(REQUEST).fresh_dark is True
    assert calls == ["idle"]
    assert old.calibration.calibration.dark is not dark_before


def test_dark_older_than_its_limit_is_stale(rig: Rig) -> None:
    holder = rig.workflow.calibration
    assert not holder.is_stale()
    holder.max_dark_age_s = 0.0
    assert holder.is_stale()
    holder.refresh_dark(rig.workflow.pipeline)
    holder.max_dark_age_s = 60.0
    assert not holder.is_stale()


@pytest.mark.parametrize(
    ("request_", "error", "message"),
    [
        (ExposureRequest(kv=160, mas=2, study=STUDY), TechniqueOutOfRange, "160 kV"),
        (ExposureRequest(kv=120, mas=2000, study=STUDY), TechniqueOutOfRange, "mAs"),
        (ExposureRequest(kv=120, mas=2, study=STUDY, protocol="TOE XY"), UsageError, "protocol"),
    ],
)
def test_unsafe_request_refused_before_anything_moves(
    rig: Rig, request_: ExposureRequest, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        rig.workflow.run(request_)
    assert rig.states == []
    assert rig.generator.model.state == "IDLE"
    assert rig.detector.status().state is DetectorState.IDLE


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (SimFault.INTERLOCK, InterlockOpen),
        (SimFault.NO_ANSWER, GeneratorTimeout),
        (SimFault.GARBAGE, GeneratorProtocolError),
    ],
)
def test_generator_fault_ends_idle_and_next_exposure_works(
    rig: Rig, fault: SimFault, error: type
) -> None:
    wf = rig.workflow
    # the request check happens first; inject the fault once it has passed
    limits, settings = rig.client.limits(), rig.client.settings()
    wf.generator.limits = lambda: limits  # type: ignore[method-assign]
    wf.generator.settings = lambda: settings  # type: ignore[method-assign]
    rig.generator.fault = fault
    with pytest.raises(error):
        wf.run(REQUEST)
    assert wf.state is ExposureState.IDLE
    assert [c.new.value for c in rig.states][-2:] == ["failed", "idle"]
    assert rig.detector.status().state is DetectorState.IDLE
    rig.generator.fault = SimFault.NONE
    rig.client.reset()
    assert wf.run(REQUEST).spool_path.exists()


def test_abort_from_another_thread_returns_to_idle(rig: Rig) -> None:
    wf = rig.workflow
    rig.generator.model.spec = type(rig.generator.model.spec)(prep_s=5.0)
    threading.Timer(0.2, wf.abort).start()
    with pytest.raises(WorkflowAborted, match="preparing"):
        wf.run(REQUEST)
    assert _path(rig) == ["preparing", "idle"]
    assert rig.generator.model.state == "IDLE"
    assert rig.detector.status().state is DetectorState.IDLE


def test_a_second_run_while_busy_is_refused(rig: Rig) -> None:
    rig.workflow.state = ExposureState.EXPOSING
    with pytest.raises(IncompatibleState, match="exposing"):
        rig.workflow.run(REQUEST)


def test_protocols() -> None:
    assert parse_protocol("chest pa") == ("CHEST", "PA")
    assert parse_protocol("HAND") == ("HAND", "")
    with pytest.raises(UsageError, match="CHEST"):
        parse_protocol("CHEST LATERAL")


def test_spool_path_is_under_spool(rig: Rig) -> None:
    result = rig.workflow.run(REQUEST)
    assert result.spool_path.parent == Path(rig.out / "spool")
    assert result.done_to_queued_s > 0


def test_generator_that_goes_away_ends_idle_with_a_link_error(rig: Rig) -> None:
    wf = rig.workflow
    limits, settings = rig.client.limits(), rig.client.settings()
    wf.generator.limits = lambda: limits  # type: ignore[method-assign]
    wf.generator.settings = lambda: settings  # type: ignore[method-assign]
    rig.generator.fault = SimFault.DISAPPEAR
    with pytest.raises(GeneratorLinkError, match="went away"):
        wf.run(REQUEST)
    assert wf.state is ExposureState.IDLE
    assert rig.detector.status().state is DetectorState.IDLE

"""``ExposureWorkflow.run_raw``: one exposure's raw frame, for calibration floods (issue 12).

The same states as an exposure from PREP to the readout, then back to IDLE with the frame
handed over; the same checks before the beam and the same recovery. Each simulated panel
and the pty generator stand in one room: the frame's dose came through it.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from panelgate.acquisition.workflow import (
    ExposureRequest,
    ExposureState,
    ExposureWorkflow,
    TriggerMode,
    WorkflowAborted,
)
from panelgate.drivers import IncompatibleState, UsageError
from panelgate.drivers.generator import InterlockOpen, TechniqueOutOfRange
from panelgate.gateway.dicom import StudyContext
from panelgate.simulators import air_kerma_ugy
from panelgate.simulators.generator import SimFault

from .conftest import Rig

RAW = ["preparing", "ready", "exposing", "readout", "idle"]


def _raw_workflow(rig: Rig) -> ExposureWorkflow:
    wf = rig.workflow
    raw = ExposureWorkflow(wf.pipeline, rig.client, None, wf.spool_dir, timeouts=wf.timeouts)
    raw.subscribe(rig.states.append)
    return raw


def _sent(rig: Rig, name: str) -> int:
    return list(rig.generator.model.commands).count(name)


def test_a_raw_exposure_goes_through_the_beam_states_and_back_to_idle(rig: Rig) -> None:
    wf = _raw_workflow(rig)
    dark_mean = float(wf.pipeline.expose(0.0).pixels.mean())  # no beam from the generator
    rig.states.clear()
    raw = wf.run_raw(70.0, 1.0)
    assert [c.new.value for c in rig.states] == RAW
    assert wf.state is ExposureState.IDLE
    assert (_sent(rig, "PREP"), _sent(rig, "EXP")) == (1, 1)
    kerma = air_kerma_ugy(raw.delivered.kv, raw.delivered.mas)
    signal = float(raw.frame.pixels.astype(np.float64).mean()) - dark_mean
    assert signal == pytest.approx(2000.0 * kerma, rel=0.1), "its dose came through the room"
    assert not list(wf.spool_dir.glob("*")), "a raw frame is written nowhere"
    wf.run_raw(70.0, 1.0)
    assert _sent(rig, "EXP") == 2, "and the next one starts from IDLE"


def test_a_raw_exposure_outside_the_generators_range_is_refused_before_prep(rig: Rig) -> None:
    wf = _raw_workflow(rig)
    with pytest.raises(TechniqueOutOfRange, match=r"needs 0\.05 ms"):
        wf.run_raw(70.0, 0.01)
    assert not rig.states and _sent(rig, "PREP") == 0


def test_a_generator_fault_during_a_raw_exposure_ends_idle(rig: Rig) -> None:
    wf = _raw_workflow(rig)
    rig.generator.fault = SimFault.INTERLOCK
    with pytest.raises(InterlockOpen):
        wf.run_raw(70.0, 1.0)
    assert wf.state is ExposureState.IDLE and _sent(rig, "ABORT") >= 1
    assert [c.new.value for c in rig.states][-2:] == ["failed", "idle"]
    rig.generator.fault = SimFault.NONE
    rig.client.reset()
    assert wf.run_raw(70.0, 1.0).frame.pixels.shape == (256, 256)


def test_an_abort_during_a_raw_exposure_returns_to_idle(rig: Rig) -> None:
    wf = _raw_workflow(rig)
    wf.subscribe(lambda change: wf.abort() if change.new is ExposureState.PREPARING else None)
    with pytest.raises(WorkflowAborted):
        wf.run_raw(70.0, 1.0)
    assert wf.state is ExposureState.IDLE and _sent(rig, "EXP") == 0


def test_a_workflow_without_calibration_takes_raw_frames_only(rig: Rig) -> None:
    wf = _raw_workflow(rig)
    request = ExposureRequest(70, 1, StudyContext(patient_name="Doe^Jane", patient_id="P-1"))
    with pytest.raises(IncompatibleState, match="takes raw frames only"):
        wf.run(request)
    assert _sent(rig, "PREP") == 0
    done = threading.Event()
    wf.subscribe(lambda change: done.set() if change.event == "raw" else None)
    wf.run_raw(70.0, 1.0)
    assert done.is_set()


def test_a_raw_exposure_in_a_trigger_mode_not_the_panels_is_refused_before_prep(
    rig: Rig,
) -> None:
    wf = rig.workflow
    raw = ExposureWorkflow(
        wf.pipeline, rig.client, None, wf.spool_dir, trigger=TriggerMode.AED, timeouts=wf.timeouts
    )
    with pytest.raises(UsageError, match="trigger source is software"):
        raw.run_raw(70.0, 1.0)
    assert _sent(rig, "PREP") == 0 and raw.state is ExposureState.IDLE

"""An exposure nobody confirmed: the patient MAY HAVE BEEN exposed, not WAS (issue 12).

With no generator link (``--generator none``: the technician fires at the console, the
AED panel detects the beam), a readout that times out does not mean the beam fired: the
technician may not have pressed the hand switch, or the panel missed the beam. Generators
declare whether they confirm an exposure (``confirms_exposure``); the message follows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panelgate.acquisition.cli import main
from panelgate.acquisition.config import Config, DetectorConfig
from panelgate.acquisition.pipeline import Pipeline
from panelgate.acquisition.workflow import (
    CalibrationHolder,
    ExposureRequest,
    ExposureState,
    ExposureWorkflow,
    TriggerMode,
    WorkflowTimeouts,
    quick_calibration,
)
from panelgate.drivers import PatientExposed
from panelgate.drivers.generator import Generator, GeneratorClient, ManualGenerator
from panelgate.gateway.dicom import StudyContext
from panelgate.simulators import Fault, Room, SimulatedDetector
from panelgate.simulators.generator import GeneratorSpec, InProcessGenerator

SIZE = 64
REQUEST = ExposureRequest(66, 1.2, StudyContext(patient_name="Doe^Jane", patient_id="P-U"))
TIMEOUTS = WorkflowTimeouts(prep_s=2.0, exposure_margin_s=2.0, readout_s=0.5)


def _fail_readout(
    generator: Generator, trigger: TriggerMode, url: str, out: Path
) -> tuple[PatientExposed, ExposureWorkflow]:
    """Expose with a panel whose frame never comes; return the error and the workflow."""
    config = Config(detector=DetectorConfig(exposure_s=0.01, frame_timeout_s=5.0))
    with SimulatedDetector.from_url(url) as det:
        pipeline = Pipeline(det, config, beam=det.irradiate)
        pipeline.configure(SIZE, SIZE)
        holder = CalibrationHolder(quick_calibration(pipeline, frames=2))
        det.fault = Fault.NO_FRAME  # only seen by a panel that starts a readout
        workflow = ExposureWorkflow(
            pipeline, generator, holder, out / "spool", trigger=trigger, timeouts=TIMEOUTS
        )
        with pytest.raises(PatientExposed) as failed:
            workflow.run(REQUEST)
    return failed.value, workflow


def _record(error: PatientExposed) -> dict[str, object]:
    assert error.kept is not None
    record: dict[str, object] = json.loads((error.kept / "exposure.json").read_text())
    return record


def test_generators_declare_whether_they_confirm_the_exposure() -> None:
    assert GeneratorClient("loop://").confirms_exposure is True
    assert InProcessGenerator().confirms_exposure is True
    assert ManualGenerator().confirms_exposure is False


def test_no_beam_without_a_generator_link_may_have_exposed_the_patient(tmp_path: Path) -> None:
    url = f"sim://?width={SIZE}&height={SIZE}&room={tmp_path / 'room'}&trigger=aed"
    error, workflow = _fail_readout(ManualGenerator(), TriggerMode.AED, url, tmp_path)
    message = str(error)
    assert message.startswith("the patient MAY HAVE BEEN exposed (66 kV, 1.2 mAs"), message
    assert "do not repeat the exposure without checking: no beam was detected within 0.5 s" in (
        message
    )
    assert "WAS exposed" not in message
    record = _record(error)
    assert record["patient_exposed"] is True and record["exposure_confirmed"] is False
    assert record["frame"] is None
    assert workflow.state is ExposureState.IDLE, "ready for the technician to try again"


def test_a_confirmed_exposure_without_a_frame_was_exposed(tmp_path: Path) -> None:
    room = Room(tmp_path / "room")
    url = f"sim://?width={SIZE}&height={SIZE}&room={room.path}"
    spec = GeneratorSpec(prep_s=0.02, time_scale=0.1)
    with InProcessGenerator(spec, seed=1, room=room) as generator:
        error, _ = _fail_readout(generator, TriggerMode.SOFTWARE, url, tmp_path)
        assert generator.model.exposures == 1
    message = str(error)
    assert message.startswith("the patient WAS exposed"), message
    assert "no frame from the detector within 0.5 s of the exposure" in message
    assert _record(error)["exposure_confirmed"] is True


def test_expose_without_a_generator_link_reports_a_beam_never_detected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command's one line; the workflow's default readout wait (10 s) runs out."""
    rc = main([
        "expose", "--detector", f"sim://?width={SIZE}&height={SIZE}&aed=1",
        "--generator", "none", "--trigger", "aed", "--patient-id", "P-U",
        "--patient-name", "Doe^Jane", "--kv", "70", "--mas", "1",
        "--out", str(tmp_path / "out"), "--quick-calibration",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("panelgate: error: the patient MAY HAVE BEEN exposed (70 kV, 1 mAs")
    assert "no beam was detected within 10 s" in lines[0]
    assert f"kept in {tmp_path / 'out' / 'exposed'}" in lines[0]

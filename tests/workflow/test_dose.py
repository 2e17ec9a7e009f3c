"""Dose of every exposure (issue 16): the pty generator fires, the simulated room irradiates.

Each exposure is logged (one JSON per irradiation event, 0600), its DX carries the same
Irradiation Event UID and dose, the dose equals what the simulated room delivered, a
generator with a DAP meter is believed, the study's dose SR rebuilt from the log agrees
with it, and ``panelgate dose --study UID`` prints it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import generate_uid

from panelgate.acquisition.cli import main
from panelgate.acquisition.config import Config
from panelgate.acquisition.dose_report import DoseReports, build_study_report
from panelgate.acquisition.workflow import ExposureRequest, ExposureResult, ExposureWorkflow
from panelgate.drivers.generator import Generator, ReportsDoseAreaProduct
from panelgate.gateway.dicom import StudyContext, write_atomic
from panelgate.gateway.outbox import Outbox
from panelgate.simulators.room import air_kerma_ugy

from .conftest import Rig

STUDY = StudyContext(patient_name="Doe^Jane", patient_id="PID-7", study_instance_uid=generate_uid())


def _expose(workflow: ExposureWorkflow, protocol: str = "CHEST PA") -> ExposureResult:
    return workflow.run(ExposureRequest(kv=120, mas=2, study=STUDY, protocol=protocol))


def _log_files(rig: Rig) -> list[Path]:
    return sorted(
        (rig.workflow.spool_dir.parent / "dose" / str(STUDY.study_instance_uid)).glob("*.json")
    )


def test_each_exposure_is_logged_and_its_image_carries_the_same_dose(
    rig: Rig, dciodvfy: Callable[[Path], tuple[list[str], list[str]]]
) -> None:
    results = [_expose(rig.workflow), _expose(rig.workflow, "HAND")]
    for result in results:
        errors, _ = dciodvfy(result.spool_path)
        assert errors == [], "the DX with its dose attributes is valid"
    files = _log_files(rig)
    assert len(files) == 2
    folder = files[0].parent
    assert folder.stat().st_mode & 0o777 == 0o700
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files), "the log holds patient data"
    logged = rig.workflow.dose_log.read_study(str(STUDY.study_instance_uid))
    for result, event in zip(results, logged.events, strict=True):
        ds = pydicom.dcmread(result.spool_path)
        assert event.sop_instance_uid == result.sop_instance_uid
        assert ds.IrradiationEventUID == event.irradiation_event_uid
        assert float(ds.ImageAndFluoroscopyAreaDoseProduct) == pytest.approx(
            event.dose.dap_dgycm2, rel=1e-5
        )
        assert float(ds.EntranceDoseInmGy) == pytest.approx(event.dose.entrance_dose_mgy, rel=1e-5)
        assert float(ds.DistanceSourceToDetector) == 1800.0
        d = result.delivered
        assert (event.kvp, event.tube_current_ma, event.exposure_time_ms, event.exposure_mas) == (
            d.kv, d.ma, d.ms, d.mas,
        )  # fmt: skip
        # the dose reported is the dose the simulated room gave (same tube model, same SID)
        assert event.dose.detector_air_kerma_ugy == pytest.approx(
            air_kerma_ugy(d.kv, d.mas, 1.8), rel=1e-9
        )
        assert event.dose.dap_source == "model"
    assert [e.body_part for e in logged.events] == ["CHEST", "HAND"]
    assert logged.total_dap_dgycm2 == pytest.approx(sum(e.dose.dap_dgycm2 for e in logged.events))


class _MeteredGenerator:
    """The rig's generator with a DAP meter: satisfies ReportsDoseAreaProduct as declared."""

    def __init__(self, inner: Generator, dap_dgycm2: float) -> None:
        self._inner = inner
        self.dap_dgycm2 = dap_dgycm2

    def delivered_dap_dgycm2(self) -> float | None:
        return self.dap_dgycm2

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_generator_that_measures_the_dap_is_believed(rig: Rig) -> None:
    metered = _MeteredGenerator(rig.client, 0.8125)
    assert isinstance(metered, Generator) and isinstance(metered, ReportsDoseAreaProduct)
    assert not isinstance(rig.client, ReportsDoseAreaProduct)
    wf = rig.workflow
    workflow = ExposureWorkflow(
        wf.pipeline,
        metered,
        wf.calibration,
        wf.spool_dir,
        timeouts=wf.timeouts,  # type: ignore[arg-type]
    )
    result = _expose(workflow)
    (event,) = workflow.dose_log.read_study(str(STUDY.study_instance_uid)).events
    assert event.dose.dap_dgycm2 == 0.8125 and event.dose.dap_source == "generator"
    assert float(pydicom.dcmread(result.spool_path).ImageAndFluoroscopyAreaDoseProduct) == 0.8125


def test_the_study_dose_sr_rebuilt_from_the_log_agrees_with_it(
    rig: Rig, tmp_path: Path, dciodvfy: Callable[[Path], tuple[list[str], list[str]]]
) -> None:
    _expose(rig.workflow)
    _expose(rig.workflow)
    study_uid = str(STUDY.study_instance_uid)
    logged = rig.workflow.dose_log.read_study(study_uid)
    ds = build_study_report(rig.workflow.dose_log, study_uid, Config())
    path = write_atomic(ds, tmp_path / "sr.dcm")
    errors, _ = dciodvfy(path)
    assert errors == []
    back = pydicom.dcmread(path)
    assert back.StudyInstanceUID == study_uid and back.PatientID == "PID-7"
    events = [c for c in back.ContentSequence if c.ConceptNameCodeSequence[0].CodeValue == "113706"]
    assert len(events) == 2
    for event, item in zip(logged.events, events, strict=True):
        by_code = {c.ConceptNameCodeSequence[0].CodeValue: c for c in item.ContentSequence}
        assert by_code["113769"].UID == event.irradiation_event_uid
        dap = float(by_code["122130"].MeasuredValueSequence[0].NumericValue)
        assert dap == pytest.approx(event.dose.dap_dgycm2 * 1e-5, rel=1e-9)
        assert float(by_code["113733"].MeasuredValueSequence[0].NumericValue) == event.kvp


def test_panelgate_dose_prints_every_event_and_the_total(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    _expose(rig.workflow)
    _expose(rig.workflow)
    out_dir = rig.workflow.spool_dir.parent
    study_uid = str(STUDY.study_instance_uid)
    logged = rig.workflow.dose_log.read_study(study_uid)
    assert main(["dose", "--study", study_uid, "--out", str(out_dir)]) == 0
    text = capsys.readouterr().out
    assert f"study {study_uid}: 2 exposure(s)" in text
    for event in logged.events:
        assert f"event {event.irradiation_event_uid}" in text
        assert f"{event.dose.dap_dgycm2:.4f}" in text
    assert f"total: DAP {logged.total_dap_dgycm2:.4f} dGy·cm²" in text
    assert "Doe" not in text and "PID-7" not in text, "no patient data on the terminal"
    assert main(["dose", "--study", study_uid, "--out", str(out_dir), "--json", "--queue"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["dap_dgycm2"] for e in doc["events"]] == [e.dose.dap_dgycm2 for e in logged.events]
    assert doc["total_dap_dgycm2"] == pytest.approx(logged.total_dap_dgycm2)
    queued = out_dir / "outbox" / "objects" / f"{doc['dose_sr_queued']}.dcm"
    assert pydicom.dcmread(queued).SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.67"


def test_panelgate_dose_of_an_unknown_study_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dose", "--study", "1.2.3.4", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no exposure of study 1.2.3.4" in err[0]


def test_a_completed_study_queues_its_dose_sr_once_per_set_of_exposures(
    rig: Rig, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox", ["pacs"])
    reports = DoseReports(outbox, rig.workflow.dose_log, Config())
    study_uid = str(STUDY.study_instance_uid)
    assert reports.complete(study_uid) is None, "no exposure yet: nothing to report"
    first = _expose(rig.workflow)
    sr_uid = reports.complete(study_uid)
    assert sr_uid is not None
    assert reports.complete(study_uid) is None, "nothing new since the last dose SR"
    second = _expose(rig.workflow)
    again = reports.complete(study_uid)
    assert again is not None and again != sr_uid
    (record,) = [r for r in outbox.records("pacs") if r.sop_instance_uid == again]
    sr = pydicom.dcmread(outbox.object_path(again))
    reported = {
        item.UID
        for event in sr.ContentSequence
        if event.ConceptNameCodeSequence[0].CodeValue == "113706"
        for item in event.ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue == "113769"
    }
    images = [pydicom.dcmread(r.spool_path) for r in (first, second)]
    assert reported == {ds.IrradiationEventUID for ds in images}
    assert record.sop_class_uid == "1.2.840.10008.5.1.4.1.1.88.67"


def test_a_dap_that_is_not_a_dose_is_replaced_by_the_model(rig: Rig) -> None:
    """After the beam nothing may fail for a meter's bad value: the model's DAP is reported."""
    wf = rig.workflow
    workflow = ExposureWorkflow(
        wf.pipeline, _MeteredGenerator(rig.client, float("nan")), wf.calibration,  # type: ignore[arg-type]
        wf.spool_dir, timeouts=wf.timeouts,
    )  # fmt: skip
    result = _expose(workflow)
    (event,) = workflow.dose_log.read_study(str(STUDY.study_instance_uid)).events
    assert event.dose.dap_source == "model"
    d = result.delivered
    assert event.dose.detector_air_kerma_ugy == pytest.approx(air_kerma_ugy(d.kv, d.mas, 1.8))

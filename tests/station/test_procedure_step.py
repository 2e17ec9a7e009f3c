"""The station's performed procedure steps (station/procedure_step.py) against a pynetdicom SCP.

Without the station process: the exposure log is written as the workflow writes it, and
the steps are driven as the station drives them. Two steps of one study each report only
their own exposures; a step the SCP refuses to create is reported and not set later; an
exam without a worklist step gets a step UID (for the dose SR) and sends nothing.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]

from panelgate.acquisition.exposure_log import ExposureLog
from panelgate.gateway.dicom import StudyContext
from panelgate.gateway.dicom.dose import DoseGeometry, TubeOutput, event_dose
from panelgate.gateway.dicom.dose_event import DeviceObserver, IrradiationEvent
from panelgate.gateway.pacs import Destination
from panelgate.station.procedure_step import ProcedureSteps

ROOT = "1.2.826.0.1.3680043.8.498."
DEVICE = DeviceObserver(generate_uid(prefix=ROOT), "ROOM 1", "panelgate", "panelgate", "SN-7")
STEP_A = StudyContext(
    patient_name="Step^Sam", patient_id="P-STEP", study_instance_uid=generate_uid(prefix=ROOT),
    accession_number="ACC-S", scheduled_procedure_step_id="SPS-A",
)  # fmt: skip
STEP_B = replace(STEP_A, scheduled_procedure_step_id="SPS-B")


class Scp:
    """A pynetdicom MPPS SCP answering N-CREATE with ``create_status``; keeps the requests."""

    def __init__(self, create_status: int = 0x0000) -> None:
        self.requests: list[tuple[str, str, Dataset]] = []
        self.lock = threading.Lock()

        def on_create(event: Any) -> tuple[int, Dataset | None]:
            with self.lock:
                uid = str(event.request.AffectedSOPInstanceUID)
                self.requests.append(("N-CREATE", uid, event.attribute_list))
            return create_status, event.attribute_list if create_status == 0 else None

        def on_set(event: Any) -> tuple[int, Dataset]:
            with self.lock:
                uid = str(event.request.RequestedSOPInstanceUID)
                self.requests.append(("N-SET", uid, event.modification_list))
            return 0x0000, event.modification_list

        ae = AE(ae_title="MPPSAE")
        ae.add_supported_context(ModalityPerformedProcedureStep)
        self.server = ae.start_server(
            ("127.0.0.1", 0), block=False,
            evt_handlers=[(evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set)],
        )  # fmt: skip
        self.port = int(self.server.server_address[1])

    def got(self) -> list[tuple[str, str, Dataset]]:
        with self.lock:
            return list(self.requests)


@pytest.fixture
def scp() -> Iterator[Callable[..., Scp]]:
    started: list[Scp] = []

    def start(create_status: int = 0x0000) -> Scp:
        started.append(Scp(create_status))
        return started[-1]

    yield start
    for peer in started:
        peer.server.shutdown()


def _steps(tmp_path: Path, port: int) -> tuple[ProcedureSteps, ExposureLog]:
    log = ExposureLog(tmp_path / "dose")
    destination = Destination("127.0.0.1", port, called_ae="MPPSAE", calling_ae="AGENT")
    steps = ProcedureSteps(destination, log, station_ae="AGENT", uid_root=ROOT, retry_s=0.1)
    steps.start()
    return steps, log


def _expose(log: ExposureLog, study: StudyContext, minute: int) -> IrradiationEvent:
    """Log one exposure of ``study`` as the workflow does once its image exists."""
    event = IrradiationEvent(
        generate_uid(prefix=ROOT), dt.datetime(2026, 11, 30, 7, minute, tzinfo=dt.UTC),
        120.0, 200.0, 10.0, 2.0, event_dose(120.0, 2.0, DoseGeometry(), TubeOutput()),
        "CHEST", "PA", "U", "CHEST PA", 400.0, 400.0,
        generate_uid(prefix=ROOT), generate_uid(prefix=ROOT),
    )  # fmt: skip
    log.record(study, DEVICE, event)
    return event


def test_two_steps_of_one_study_each_report_their_own_exposures(
    tmp_path: Path, scp: Callable[..., Scp]
) -> None:
    peer = scp()
    steps, log = _steps(tmp_path, peer.port)
    uid_a = steps.exposure_starting(STEP_A, scheduled=True)
    first = _expose(log, STEP_A, 0)
    assert steps.exposure_starting(STEP_A, scheduled=True) == uid_a, "same step, same UID"
    second = _expose(log, STEP_A, 1)
    steps.finish(STEP_B, rejected={second.sop_instance_uid})  # the exam moves to step B
    uid_b = steps.exposure_starting(STEP_B, scheduled=True)
    third = _expose(log, STEP_B, 2)
    assert steps.uid_of(STEP_A.study_instance_uid or "") == uid_b, "the SR names the last step"
    steps.finish(None)  # the station stops
    steps.close(timeout_s=30)
    kinds = [(kind, uid) for kind, uid, _ in peer.got()]
    assert kinds == [("N-CREATE", uid_a), ("N-SET", uid_a), ("N-CREATE", uid_b), ("N-SET", uid_b)]
    set_a, set_b = peer.got()[1][2], peer.got()[3][2]
    assert int(set_a.TotalNumberOfExposures) == 2 and int(set_b.TotalNumberOfExposures) == 1
    total_a = first.dose.dap_dgycm2 + second.dose.dap_dgycm2
    assert float(set_a.ImageAndFluoroscopyAreaDoseProduct) == pytest.approx(total_a, rel=1e-5)
    refs = set_a.PerformedSeriesSequence[0].ReferencedImageSequence
    assert [r.ReferencedSOPInstanceUID for r in refs] == [first.sop_instance_uid]
    refs = set_b.PerformedSeriesSequence[0].ReferencedImageSequence
    assert [r.ReferencedSOPInstanceUID for r in refs] == [third.sop_instance_uid]
    assert steps.status() == {
        "configured": True, "step_uid": "", "queued": 0, "delivered": 4, "problem": "",
    }  # fmt: skip


def test_a_refused_n_create_is_reported_and_its_step_never_set(
    tmp_path: Path, scp: Callable[..., Scp], caplog: pytest.LogCaptureFixture
) -> None:
    peer = scp(create_status=0x0106)  # Invalid Attribute Value: no retry makes it pass
    steps, log = _steps(tmp_path, peer.port)
    uid = steps.exposure_starting(STEP_A, scheduled=True)
    _expose(log, STEP_A, 0)
    steps.finish(None)
    steps.close(timeout_s=30)
    assert [(kind, u) for kind, u, _ in peer.got()] == [("N-CREATE", uid)], "no N-SET after it"
    status = steps.status()
    assert status["queued"] == 0 and status["delivered"] == 0
    assert "N-CREATE" in status["problem"] and "refused" in status["problem"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(uid in w for w in warnings)
    assert not any("P-STEP" in w or "Step^Sam" in w for w in warnings), "no patient data"


def test_a_duplicate_n_create_means_the_step_exists_and_is_then_set(
    tmp_path: Path, scp: Callable[..., Scp]
) -> None:
    """0x0111: what a retried N-CREATE whose first reply was lost gets; the N-SET follows."""
    peer = scp(create_status=0x0111)
    steps, log = _steps(tmp_path, peer.port)
    uid = steps.exposure_starting(STEP_A, scheduled=True)
    _expose(log, STEP_A, 0)
    steps.finish(None)
    steps.close(timeout_s=30)
    assert [(kind, u) for kind, u, _ in peer.got()] == [("N-CREATE", uid), ("N-SET", uid)]
    assert steps.status()["problem"] == ""


def test_an_exam_without_a_worklist_step_gets_a_uid_and_sends_nothing(
    tmp_path: Path, scp: Callable[..., Scp]
) -> None:
    peer = scp()
    steps, log = _steps(tmp_path, peer.port)
    manual = StudyContext(patient_name="A^B", patient_id="P", study_instance_uid=generate_uid())
    uid = steps.exposure_starting(manual, scheduled=False)
    _expose(log, manual, 0)
    assert uid and steps.uid_of(manual.study_instance_uid or "") == uid
    steps.finish(None)
    steps.close(timeout_s=30)
    assert peer.got() == [] and steps.status()["delivered"] == 0

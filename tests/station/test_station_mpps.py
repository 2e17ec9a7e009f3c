"""MPPS at the station (issue 16; IHE RAD-6/RAD-7): the worklist step's N-CREATE and N-SET.

The station process, dcmtk wlmscpfs as the worklist, the pty generator, and a pynetdicom
MPPS SCP in the test process (Orthanc and dcmtk have none). The first exposure of a
worklist step creates it IN PROGRESS; the next exam of another study completes it with
every exposure's dose (the rejected one too) and the total DAP of the images; an MPPS SCP
that is down never holds an exposure back, and a step that made no image is DISCONTINUED.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]

from panelgate.gateway.dicom.rdsr import XRAY_RADIATION_DOSE_SR
from panelgate.gateway.outbox import Outbox
from panelgate.simulators.generator import SimulatedGenerator

STUDY_UID = "1.2.826.0.1.3680043.8.498.7716"
OTHER = {"id": "P-MPPS-2", "name": "Other^Olga"}


class MppsScp:
    """A pynetdicom MPPS SCP on 127.0.0.1 that keeps every request it gets, in order."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[tuple[str, str, Dataset]] = []
        self.lock = threading.Lock()
        self.server: Any = None

    def start(self) -> MppsScp:
        def on_create(event: Any) -> tuple[int, Dataset]:
            with self.lock:
                uid = str(event.request.AffectedSOPInstanceUID)
                self.requests.append(("N-CREATE", uid, event.attribute_list))
            return 0x0000, event.attribute_list

        def on_set(event: Any) -> tuple[int, Dataset]:
            with self.lock:
                uid = str(event.request.RequestedSOPInstanceUID)
                self.requests.append(("N-SET", uid, event.modification_list))
            return 0x0000, event.modification_list

        ae = AE(ae_title="MPPSAE")
        ae.add_supported_context(ModalityPerformedProcedureStep)
        self.server = ae.start_server(
            ("127.0.0.1", self.port), block=False,
            evt_handlers=[(evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set)],
        )  # fmt: skip
        return self

    def got(self) -> list[tuple[str, str, Dataset]]:
        with self.lock:
            return list(self.requests)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()


def _with_patient_study(item: str) -> str:
    """The item with what IHE REM asks of the dose SR: admitting diagnosis, size, weight."""
    extra = "(0010,1020) DS  [1.68]\n(0010,1030) DS  [71.5]\n"
    item = item.replace("(0010,0040) CS  [O]\n", "(0010,0040) CS  [O]\n" + extra)
    return item.replace("(0010,0010)", "(0008,1080) LO  [Persistent cough]\n(0010,0010)", 1)


def _ihe_rem_errors(path: Path, exe: str) -> list[str]:
    proc = subprocess.run(
        [exe, "-profile", "IHEREM", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")]


def _config(
    helpers: Any, tmp_path: Path, generator: SimulatedGenerator, wl: int, mpps: int
) -> Path:
    mpps_section = (
        f'[mpps]\nhost = "127.0.0.1"\nport = {mpps}\ncalled_ae = "MPPSAE"\n'
        "connect_s = 1\nretry_s = 0.2\n"
    )
    return helpers.config(tmp_path, generator.device_path, worklist_port=wl, extra=mpps_section)


def _expose(api: Any, reason: str = "") -> str:
    prepared = api.post("/api/prepare", json={"repeat_reason": reason} if reason else None)
    assert prepared.status_code == 200, prepared.text
    made = api.post("/api/expose")
    assert made.status_code == 200, made.text
    return str(made.json()["sop_instance_uid"])


def test_worklist_step_created_then_completed_with_each_exposures_dose(
    worklist_scp,
    get_free_port: Callable[[], int],
    generator: SimulatedGenerator,
    start_station,
    helpers,
    tmp_path: Path,
    dciodvfy,
    require_peer,
) -> None:  # type: ignore[no-untyped-def]
    item = helpers.item("ACC-MPPS", "Mpps^Mia", "P-MPPS-1", STUDY_UID)
    wl_port = worklist_scp([_with_patient_study(item)])
    scp = MppsScp(get_free_port()).start()
    try:
        station = start_station(_config(helpers, tmp_path, generator, wl_port, scp.port))
        with station.client() as api:
            exam = api.post("/api/exam", json={"accession": "ACC-MPPS", "protocol": "CHEST PA"})
            assert exam.status_code == 200, exam.text
            assert scp.got() == [], "no step before its first exposure"
            rejected = _expose(api)
            helpers.until(lambda: len(scp.got()) == 1, "the N-CREATE of the step")
            kept = _expose(api, "patient_motion")
            reject = api.post(f"/api/images/{rejected}/reject", json={"reason": "positioning"})
            assert reject.is_success
            assert api.post(f"/api/images/{kept}/accept").is_success
            images = {i["sop_instance_uid"]: i for i in api.get("/api/images").json()}
            assert len(scp.got()) == 1, "one step, created once"
            # the next exam is of another study: the step is over
            assert api.post("/api/exam", json={"patient": OTHER, "protocol": "HAND PA"}).is_success
            helpers.until(lambda: len(scp.got()) == 2, "the N-SET that completes the step")
            status = helpers.until(
                lambda: (s := api.get("/api/status").json()["mpps"])["delivered"] == 2 and s,
                "both replies taken by the station",
            )
    finally:
        scp.stop()
    outbox = Outbox(tmp_path / "state" / "outbox", ["nowhere"])
    (sr_record,) = [r for r in outbox.records() if r.sop_class_uid == XRAY_RADIATION_DOSE_SR]
    sr_path = outbox.object_path(sr_record.sop_instance_uid)
    (create_kind, uid, created), (set_kind, set_uid, completed) = scp.got()
    assert (create_kind, set_kind) == ("N-CREATE", "N-SET") and set_uid == uid
    assert created.PerformedProcedureStepStatus == "IN PROGRESS"
    assert created.PerformedStationAETitle == "AGENT"
    sched = created.ScheduledStepAttributesSequence[0]
    assert (sched.AccessionNumber, sched.StudyInstanceUID) == ("ACC-MPPS", STUDY_UID)
    assert sched.ScheduledProcedureStepID == "SPS-ACC-MPPS"
    assert completed.PerformedProcedureStepStatus == "COMPLETED"
    doses = completed.ExposureDoseSequence
    assert len(doses) == 2 and int(completed.TotalNumberOfExposures) == 2
    for item, uid_ in zip(doses, (rejected, kept), strict=True):
        assert float(item.KVP) == pytest.approx(images[uid_]["kv"], abs=0.05)
    total = sum(images[u]["dap_dgycm2"] for u in (rejected, kept))
    assert total > 0
    assert float(completed.ImageAndFluoroscopyAreaDoseProduct) == pytest.approx(total, rel=1e-5)
    (series,) = completed.PerformedSeriesSequence
    referenced = [r.ReferencedSOPInstanceUID for r in series.ReferencedImageSequence]
    assert referenced == [kept], "the rejected image is in the dose, never in the archive"
    assert status["configured"] and status["queued"] == 0 and status["problem"] == ""
    # the study's dose SR references the step and carries the worklist's weight and size
    sr = pydicom.dcmread(sr_path)
    assert sr.ReferencedPerformedProcedureStepSequence[0].ReferencedSOPInstanceUID == uid
    assert (sr.PatientWeight, sr.PatientSize) == (71.5, 1.68)
    assert sr.AdmittingDiagnosesDescription == "Persistent cough"
    assert dciodvfy(sr_path)[0] == []
    errors = _ihe_rem_errors(sr_path, require_peer("dciodvfy"))
    # dcmtk's wlmscpfs does not return (0008,1084): the one thing the profile still misses
    assert len(errors) == 1 and "AdmittingDiagnosesCodeSequence" in errors[0], errors


def test_mpps_down_never_blocks_and_a_step_without_image_is_discontinued(
    worklist_scp,
    get_free_port: Callable[[], int],
    generator: SimulatedGenerator,
    start_station,
    helpers,
    tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]
    wl_port = worklist_scp([helpers.item("ACC-ABORT", "Mpps^Max", "P-MPPS-3", STUDY_UID)])
    scp = MppsScp(get_free_port())  # nobody listens yet
    station = start_station(_config(helpers, tmp_path, generator, wl_port, scp.port))
    try:
        with station.client() as api:
            exam = api.post("/api/exam", json={"accession": "ACC-ABORT", "protocol": "CHEST PA"})
            assert exam.status_code == 200, exam.text
            assert api.post("/api/prepare").status_code == 200, "the MPPS peer is not waited for"
            assert api.post("/api/abort").json() == {"aborted": True}
            problem = helpers.until(
                lambda: api.get("/api/status").json()["mpps"]["problem"],
                "the undelivered N-CREATE reported in the status",
            )
            assert "N-CREATE" in problem and "Mpps" not in problem and "P-MPPS-3" not in problem
            assert api.get("/api/images").json() == []
            scp.start()  # the peer is back: the queued N-CREATE goes out
            helpers.until(lambda: len(scp.got()) == 1, "the N-CREATE retried")
            assert api.post("/api/exam", json={"patient": OTHER, "protocol": "HAND PA"}).is_success
            helpers.until(lambda: len(scp.got()) == 2, "the N-SET of the step")
            helpers.until(
                lambda: api.get("/api/status").json()["mpps"]["problem"] == "",
                "the problem cleared",
            )
    finally:
        scp.stop()
    (_, uid, _), (kind, set_uid, ended) = scp.got()
    assert kind == "N-SET" and set_uid == uid
    assert ended.PerformedProcedureStepStatus == "DISCONTINUED"
    assert int(ended.TotalNumberOfExposures) == 0
    assert "N-CREATE of step" in station.stderr(), "logged at WARNING"
    assert "P-MPPS-3" not in station.stderr() and "Mpps^Max" not in station.stderr()

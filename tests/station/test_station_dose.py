"""Dose at the station (issue 16): DAP per image in the API, the study's dose SR delivered.

Against the station process, the pty generator and Orthanc with Storage Commitment: each
image lists its DAP (the DX's (0018,115E)); when the next exam is of another study, the
dose SR of the finished one, rejected exposure included, is queued, stored and committed.
"""

from __future__ import annotations

import io
import signal
from pathlib import Path

import pydicom

from panelgate.gateway.outbox import Outbox, State
from panelgate.simulators.generator import SimulatedGenerator

FIRST = {"id": "P-DOSE-1", "name": "Dose^Daria"}
SECOND = {"id": "P-DOSE-2", "name": "Dose^Dmitri"}


def test_dap_per_image_and_the_finished_study_dose_sr_committed(
    orthanc, generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    station = start_station(helpers.config(tmp_path, generator.device_path, orthanc=orthanc))
    held = tmp_path / "state" / "images" / "held"
    with station.client() as api:
        assert api.post("/api/exam", json={"patient": FIRST, "protocol": "CHEST PA"}).is_success
        made = []
        for reason in ("", "patient_motion"):
            assert (
                api.post(
                    "/api/prepare", json={"repeat_reason": reason} if reason else None
                ).status_code
                == 200
            )
            made.append(api.post("/api/expose").json()["sop_instance_uid"])
        rejected, kept = made
        assert api.post(f"/api/images/{rejected}/reject", json={"reason": "positioning"}).is_success
        assert api.post(f"/api/images/{kept}/accept").is_success
        images = {i["sop_instance_uid"]: i for i in api.get("/api/images").json()}
        dx = {uid: pydicom.dcmread(held / f"{uid}.dcm", stop_before_pixels=True) for uid in made}
        for uid in made:
            dap = images[uid]["dap_dgycm2"]
            assert dap > 0 and dap == float(dx[uid].ImageAndFluoroscopyAreaDoseProduct)
        # the next exam is of another study: the first study's step is over
        assert api.post("/api/exam", json={"patient": SECOND, "protocol": "HAND PA"}).is_success

        def dose_srs() -> list[pydicom.Dataset]:
            found = []
            for instance in orthanc.rest("/instances"):
                ds = pydicom.dcmread(io.BytesIO(orthanc.file(instance)))
                if ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.67":
                    found.append(ds)
            return found

        helpers.until(lambda: len(dose_srs()) == 1, "the dose SR of the first study in Orthanc")
        (sr,) = dose_srs()
        outbox = Outbox(tmp_path / "state" / "outbox", ["orthanc"])

        def sr_committed() -> bool:
            return any(
                r.sop_instance_uid == sr.SOPInstanceUID
                for r in outbox.records("orthanc", State.COMMITTED)
            )

        helpers.until(sr_committed, "the dose SR committed by Orthanc (Storage Commitment)")
    assert sr.StudyInstanceUID == dx[kept].StudyInstanceUID and sr.PatientID == FIRST["id"]
    reported = {
        item.UID
        for event in sr.ContentSequence
        if event.ConceptNameCodeSequence[0].CodeValue == "113706"
        for item in event.ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue == "113769"
    }
    assert reported == {ds.IrradiationEventUID for ds in dx.values()}, "the rejected one too"
    assert station.signal(signal.SIGTERM) == 0

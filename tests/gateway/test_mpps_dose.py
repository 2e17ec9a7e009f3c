"""MPPS N-SET COMPLETED with the Radiation Dose module (PS3.3 C.4.16), to a pynetdicom SCP."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]

from panelgate.gateway.dicom import StudyContext
from panelgate.gateway.dicom.dose import DoseGeometry, TubeOutput, event_dose
from panelgate.gateway.dicom.dose_event import IrradiationEvent
from panelgate.gateway.pacs import (
    AuditTrail,
    Destination,
    PerformedImage,
    mpps_finish,
    mpps_in_progress,
)

ROOT = "1.2.826.0.1.3680043.8.498."


def _event(i: int, kv: float, ma: float, ms: float, measured: float | None) -> IrradiationEvent:
    mas = ma * ms / 1000
    return IrradiationEvent(
        generate_uid(prefix=ROOT), dt.datetime(2026, 11, 30, 6, i, tzinfo=dt.UTC),
        kv, ma, ms, mas,
        event_dose(kv, mas, DoseGeometry(), TubeOutput(), measured_dap_dgycm2=measured),
        "CHEST", "PA", "U", "CHEST PA", 400.0, 400.0,
        generate_uid(prefix=ROOT), "1.2.3.9",
    )  # fmt: skip


def test_completed_step_carries_each_exposure_and_the_total_dap(tmp_path: Path) -> None:
    updated: list[Dataset] = []

    created: list[str] = []

    def on_create(event: Any) -> tuple[int, Dataset]:
        created.append(str(event.request.AffectedSOPInstanceUID))
        return 0x0000, event.attribute_list

    def on_set(event: Any) -> tuple[int, Dataset]:
        updated.append(event.modification_list)
        return 0x0000, event.modification_list

    ae = AE(ae_title="MPPS")
    ae.add_supported_context(ModalityPerformedProcedureStep)
    server = ae.start_server(
        ("127.0.0.1", 0),
        block=False,
        evt_handlers=[(evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set)],
    )
    # the second exposure was rejected by the technician: it irradiated the patient all the same
    events = [_event(0, 120.0, 200.0, 10.0, None), _event(1, 121.0, 198.0, 10.1, None)]
    try:
        dest = Destination(
            "127.0.0.1", int(server.server_address[1]), called_ae="MPPS", calling_ae="AGENT"
        )
        study = StudyContext(
            patient_name="Doe^Jane", patient_id="P-1", study_instance_uid=generate_uid()
        )
        audit = AuditTrail(tmp_path / "audit.jsonl")
        chosen = generate_uid(prefix=ROOT)  # the station picks the step's UID at its start
        uid = mpps_in_progress(
            dest, study, station_ae="AGENT", uid_root=ROOT, audit=audit, uid=chosen
        )
        assert uid == chosen
        images = [PerformedImage.from_event(e) for e in events]
        rejected = {events[1].sop_instance_uid}
        mpps_finish(dest, uid, images, audit=audit, rejected=rejected)
    finally:
        server.shutdown()
    assert created == [chosen]
    (mods,) = updated
    assert mods.PerformedProcedureStepStatus == "COMPLETED"
    items = mods.ExposureDoseSequence
    assert len(items) == 2
    for item, event in zip(items, events, strict=True):
        assert float(item.KVP) == event.kvp
        assert float(item.XRayTubeCurrentInuA) == pytest.approx(event.tube_current_ma * 1000)
        assert int(item.ExposureTime) == round(event.exposure_time_ms)
    assert int(mods.TotalNumberOfExposures) == 2 and int(mods.TotalTimeOfFluoroscopy) == 0
    total = sum(e.dose.dap_dgycm2 for e in events)
    assert float(mods.ImageAndFluoroscopyAreaDoseProduct) == pytest.approx(total, rel=1e-5)
    esd = sum(e.dose.entrance_dose_mgy for e in events)
    assert float(mods.EntranceDoseInmGy) == pytest.approx(esd, rel=1e-5)
    assert float(mods.DistanceSourceToDetector) == 1800.0
    assert float(mods.DistanceSourceToEntrance) == 1500.0
    assert mods.CommentsOnRadiationDose == "DAP computed (tube output)"
    refs = mods.PerformedSeriesSequence[0].ReferencedImageSequence
    assert [r.ReferencedSOPInstanceUID for r in refs] == [events[0].sop_instance_uid], (
        "the rejected image is in the dose, not among the images the archive will hold"
    )

"""The dose SR goes with the images: queued in the outbox, stored and committed by Orthanc.

The study's images carry their Irradiation Event UIDs and doses; the SR is rebuilt from
the exposure log (acquisition/dose_report.py), queued beside them, delivered by the agent
with Storage Commitment, and Orthanc returns the same SR, whose events are the images'.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from panelgate.acquisition.agent import Agent
from panelgate.acquisition.dose_report import queue_study_report
from panelgate.acquisition.exposure_log import ExposureLog
from panelgate.drivers import DetectorInfo, FrameMeta, ReadoutMode
from panelgate.gateway.dicom import (
    Provenance,
    StudyContext,
    Technique,
    build_dx_for_presentation,
    histogram_window,
)
from panelgate.gateway.dicom.dose import DoseGeometry, TubeOutput, event_dose
from panelgate.gateway.dicom.dose_event import DeviceObserver, IrradiationEvent
from panelgate.gateway.outbox import State

from .test_commitment_orthanc import agent_config, wait_for

ROOT = "1.2.826.0.1.3680043.8.498."
INFO = DetectorInfo(
    serial="SN-7", model="M", manufacturer="Acme", firmware="1", pixel_pitch_mm=0.139
)
STUDY = StudyContext(patient_name="Doe^Jane", patient_id="P-1", study_instance_uid=generate_uid())


def _exposure(i: int, log: ExposureLog) -> pydicom.Dataset:
    pixels = np.random.default_rng(i).integers(100, 40000, (64, 64), dtype=np.uint16)
    dose = event_dose(120.0, 2.0, DoseGeometry(), TubeOutput())
    technique = Technique(
        kvp=120.0, exposure_uas=2000.0, exposure_time_ms=10.0,
        irradiation_event_uid=generate_uid(prefix=ROOT), dose=dose,
    )  # fmt: skip
    ds = build_dx_for_presentation(
        pixels, study=STUDY, technique=technique, detector=INFO,
        frame=FrameMeta(i, 0.0, ReadoutMode(64, 64), "SN-7", 30.0),
        provenance=Provenance("abc", dt.datetime(2026, 1, 2, tzinfo=dt.UTC), 100.0, "0.1"),
        window=histogram_window(pixels),
    )  # fmt: skip
    event = IrradiationEvent(
        technique.irradiation_event_uid, dt.datetime(2026, 11, 30, 6, i, tzinfo=dt.UTC),
        120.0, 200.0, 10.0, 2.0, dose, "CHEST", "PA", "U", "CHEST PA", None, None,
        str(ds.SOPInstanceUID), str(ds.SeriesInstanceUID),
    )  # fmt: skip
    log.record(
        STUDY, DeviceObserver(generate_uid(), "ROOM", "panelgate", "panelgate", "SN-7"), event
    )
    return ds


def test_orthanc_stores_commits_and_returns_the_dose_sr(tmp_path: Path, orthanc_sc: Any) -> None:
    config = agent_config(tmp_path, orthanc_sc)
    agent = Agent(config, seed=3)
    log = ExposureLog(tmp_path / "dose")
    images = [_exposure(i, log) for i in range(2)]
    for ds in images:
        agent.outbox.enqueue_dataset(ds, acquired=True)
    sr_uid = queue_study_report(agent.outbox, log, str(STUDY.study_instance_uid), config)
    sent_sr = agent.outbox.object_path(sr_uid).read_bytes()
    agent.start()
    try:
        wait_for(
            lambda: len(agent.outbox.records("orthanc", State.COMMITTED)) == 3,
            f"2 images and the dose SR committed; outbox {agent.outbox.counts()}; "
            f"Orthanc:\n{orthanc_sc.log()}",
        )
    finally:
        agent.stop()
    stored = {}
    for instance in orthanc_sc.rest("/instances"):
        data = orthanc_sc.file(instance)
        stored[str(pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID)] = data
    assert set(stored) == {sr_uid, *(str(ds.SOPInstanceUID) for ds in images)}
    sr = pydicom.dcmread(io.BytesIO(stored[sr_uid]))
    # the data set as it was sent, element for element (Orthanc rewrites the file meta)
    assert sr == pydicom.dcmread(io.BytesIO(sent_sr))
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.67"
    assert sr.StudyInstanceUID == STUDY.study_instance_uid
    reported = {
        item.UID
        for event in sr.ContentSequence
        if event.ConceptNameCodeSequence[0].CodeValue == "113706"
        for item in event.ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue == "113769"
    }
    assert reported == {ds.IrradiationEventUID for ds in images}

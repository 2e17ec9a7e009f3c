"""Modality Worklist against Orthanc's plugin and dcmtk wlmscpfs; MPPS against a pynetdicom SCP."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]

from panelgate.drivers import DetectorInfo, FrameMeta, ReadoutMode
from panelgate.gateway.dicom import (
    Provenance,
    StudyContext,
    Technique,
    build_dx_for_presentation,
    histogram_window,
    write_atomic,
)
from panelgate.gateway.pacs import (
    AuditTrail,
    Destination,
    PerformedImage,
    WorklistQuery,
    mpps_finish,
    mpps_in_progress,
    query_worklist,
)

WORKLIST_ITEM = """\
(0008,0005) CS  [ISO_IR 100]
(0008,0050) SH  [ACC0001]
(0010,0010) PN  [Test^Phantom]
(0010,0020) LO  [PHANTOM1]
(0010,0030) DA  [19700101]
(0010,0040) CS  [O]
(0020,000d) UI  [1.2.826.0.1.3680043.8.498.1001]
(0032,1060) LO  [XR CHEST PA]
(0040,1001) SH  [RP0001]
(0040,0100) SQ
(fffe,e000) -
(0008,0060) CS  [DX]
(0040,0001) AE  [AGENT]
(0040,0002) DA  [20240101]
(0040,0003) TM  [120000]
(0040,0007) LO  [XR CHEST PA]
(0040,0009) SH  [SPS0001]
(0040,0008) SQ
(fffe,e000) -
(0008,0100) SH  [RPID1]
(0008,0102) SH  [RADLEX]
(0008,0104) LO  [XR CHEST PA]
(fffe,e00d) -
(fffe,e0dd) -
(fffe,e00d) -
(fffe,e0dd) -
"""


def _worklist_file(directory: Path, dump2dcm: str) -> Path:
    dump = directory / "item.dump"
    dump.write_text(WORKLIST_ITEM)
    target = directory / "item.wl"
    subprocess.run([dump2dcm, "+te", str(dump), str(target)], check=True, capture_output=True)
    dump.unlink()
    target.chmod(0o644)
    return target


def _check_context(found: list[StudyContext]) -> StudyContext:
    assert len(found) == 1, found
    (ctx,) = found
    assert (ctx.patient_name, ctx.patient_id, ctx.patient_birth_date, ctx.patient_sex) == (
        "Test^Phantom",
        "PHANTOM1",
        "19700101",
        "O",
    )
    assert ctx.accession_number == "ACC0001"
    assert ctx.study_instance_uid == "1.2.826.0.1.3680043.8.498.1001"
    assert (ctx.requested_procedure_id, ctx.scheduled_procedure_step_id) == ("RP0001", "SPS0001")
    assert ctx.scheduled_procedure_step_description == "XR CHEST PA"
    assert (ctx.scheduled_station_ae, ctx.modality) == ("AGENT", "DX")
    assert ctx.scheduled_start.startswith("20240101")
    assert [c.value for c in ctx.scheduled_protocol_codes] == ["RPID1"]
    return ctx


def test_orthanc_worklist_answers_by_station_modality_and_date(
    tmp_path: Path,
    orthanc_sc: Any,
    require_peer: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("pynetdicom").setLevel(logging.INFO)
    # pynetdicom logs C-FIND response identifiers (PHI) at INFO unless told not to; the
    # process that owns logging (panelgate's CLI and agent) turns that off below -vv.
    monkeypatch.setattr(pynetdicom_config, "LOG_RESPONSE_IDENTIFIERS", False)
    _worklist_file(orthanc_sc.root / "mwl", require_peer("dump2dcm"))
    dest = Destination(
        "127.0.0.1", orthanc_sc.dicom_port, called_ae=orthanc_sc.aet, calling_ae="AGENT"
    )
    audit = AuditTrail(tmp_path / "audit.jsonl")
    _check_context(query_worklist(dest, WorklistQuery("AGENT", "DX", "20240101"), audit))
    assert query_worklist(dest, WorklistQuery("OTHER", "DX", "20240101")) == []
    assert query_worklist(dest, WorklistQuery("AGENT", "DX", "20240102")) == []
    assert query_worklist(dest, WorklistQuery("AGENT", "CR", "")) == []
    (event,) = audit.events()
    assert (event["event"], event["matches"], event["outcome"]) == ("worklist-query", 1, 0)
    assert "PHANTOM1" not in str(event)
    assert "worklist" in caplog.text and "PHANTOM1" not in caplog.text  # no PHI at INFO


def test_wlmscpfs_worklist_and_the_image_header_it_fills(
    tmp_path: Path,
    require_peer: Callable[[str], str],
    get_free_port: Callable[[], int],
    dciodvfy: Callable[[Path], tuple[list[str], list[str]]],
) -> None:
    root = tmp_path / "wl"
    (root / "WLAE").mkdir(parents=True)
    (root / "WLAE" / "lockfile").touch()
    _worklist_file(root / "WLAE", require_peer("dump2dcm"))
    port = get_free_port()
    proc = subprocess.Popen(
        [require_peer("wlmscpfs"), "-dfp", str(root), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("wlmscpfs did not start")
                time.sleep(0.05)
        dest = Destination("127.0.0.1", port, called_ae="WLAE", calling_ae="AGENT")
        ctx = _check_context(query_worklist(dest, WorklistQuery("AGENT", "DX", "20240101")))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)

    pixels = np.random.default_rng(1).integers(100, 9000, (64, 64), dtype=np.uint16)
    ds = build_dx_for_presentation(
        pixels,
        study=ctx,
        technique=Technique(kvp=80.0),
        detector=DetectorInfo(
            serial="S", model="M", manufacturer="A", firmware="1", pixel_pitch_mm=0.139
        ),
        frame=FrameMeta(frame_id=1, t_mono_s=0, mode=ReadoutMode(64, 64), serial="S", temp_c=30),
        provenance=Provenance("c", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 100.0, "0"),
        window=histogram_window(pixels),
    )
    path = write_atomic(ds, tmp_path / "dx.dcm")
    errors, _ = dciodvfy(path)
    assert errors == [], "\n".join(errors)
    back = pydicom.dcmread(path)
    assert back.StudyInstanceUID == ctx.study_instance_uid
    assert back.AccessionNumber == "ACC0001" and back.PatientID == "PHANTOM1"
    assert back.StudyDescription == "XR CHEST PA"
    (request,) = back.RequestAttributesSequence
    assert (request.RequestedProcedureID, request.ScheduledProcedureStepID) == ("RP0001", "SPS0001")
    assert request.ScheduledProtocolCodeSequence[0].CodeValue == "RPID1"


def test_mpps_in_progress_then_completed_with_images_and_dose(tmp_path: Path) -> None:
    created: list[tuple[str, Dataset]] = []
    updated: list[tuple[str, Dataset]] = []

    def on_create(event: Any) -> tuple[int, Dataset]:
        created.append((str(event.request.AffectedSOPInstanceUID), event.attribute_list))
        return 0x0000, event.attribute_list

    def on_set(event: Any) -> tuple[int, Dataset]:
        updated.append((str(event.request.RequestedSOPInstanceUID), event.modification_list))
        return 0x0000, event.modification_list

    ae = AE(ae_title="MPPS")
    ae.add_supported_context(ModalityPerformedProcedureStep)
    server = ae.start_server(
        ("127.0.0.1", 0),
        block=False,
        evt_handlers=[(evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set)],
    )
    audit = AuditTrail(tmp_path / "audit.jsonl")
    try:
        dest = Destination(
            "127.0.0.1", int(server.server_address[1]), called_ae="MPPS", calling_ae="AGENT"
        )
        study = StudyContext(
            patient_name="Test^Phantom",
            patient_id="PHANTOM1",
            study_instance_uid="1.2.826.0.1.3680043.8.498.1001",
            accession_number="ACC0001",
            requested_procedure_id="RP0001",
            scheduled_procedure_step_id="SPS0001",
            modality="DX",
        )
        uid = mpps_in_progress(
            dest, study, station_ae="AGENT", uid_root="1.2.826.0.1.3680043.8.498.", audit=audit
        )
        image = PerformedImage(
            "1.2.840.10008.5.1.4.1.1.1.1", "1.2.3.4.1", "1.2.3.4", 80.0, 2000.0, 20.0
        )
        mpps_finish(dest, uid, [image], audit=audit)
    finally:
        server.shutdown()
    ((created_uid, attrs),) = created
    assert created_uid == uid and attrs.PerformedProcedureStepStatus == "IN PROGRESS"
    assert attrs.ScheduledStepAttributesSequence[0].ScheduledProcedureStepID == "SPS0001"
    assert attrs.PatientID == "PHANTOM1" and attrs.Modality == "DX"
    ((set_uid, mods),) = updated
    assert set_uid == uid and mods.PerformedProcedureStepStatus == "COMPLETED"
    series = mods.PerformedSeriesSequence[0]
    assert series.SeriesInstanceUID == "1.2.3.4"
    assert series.ReferencedImageSequence[0].ReferencedSOPInstanceUID == "1.2.3.4.1"
    assert float(mods.ExposureDoseSequence[0].KVP) == 80.0
    assert [e["detail"] for e in audit.events()] == ["N-CREATE IN PROGRESS", "N-SET COMPLETED"]

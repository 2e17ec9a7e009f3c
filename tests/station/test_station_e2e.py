"""The station end to end: worklist -> exam -> exposure -> review -> committed in Orthanc.

The station runs as ``panelgate station`` (a subprocess) against dcmtk's wlmscpfs, Orthanc
with Storage Commitment, and a simulated generator on a pty; everything is driven over its
HTTP API, and its server-sent events are read as they come.
"""

from __future__ import annotations

import hashlib
import io
import json
import signal
from pathlib import Path

import pydicom

from panelgate.simulators.generator import SimulatedGenerator

STUDY_UID = "1.2.826.0.1.3680043.8.498.4242"


def _pixel_sha(data: bytes) -> str:
    ds = pydicom.dcmread(io.BytesIO(data))
    return hashlib.sha256(ds.PixelData).hexdigest()


def _orthanc_instances(orthanc, uid: str) -> list[str]:  # type: ignore[no-untyped-def]
    query = {"Level": "Instance", "Query": {"SOPInstanceUID": uid}}
    return list(orthanc.rest("/tools/find", method="POST", data=json.dumps(query).encode()))


def test_worklist_exam_exposure_accept_committed_in_orthanc(
    orthanc, worklist_scp, generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    wl_port = worklist_scp([helpers.item("ACC42", "Test^Station", "ST-7", STUDY_UID)])
    config = helpers.config(tmp_path, generator.device_path, orthanc=orthanc, worklist_port=wl_port)
    station = start_station(config)
    events = station.read_events()
    with station.client() as api:
        status = api.get("/api/status").json()
        assert status["detector"]["connected"] and status["detector"]["serial"] == "ST-1"
        assert status["calibration"]["set_id"]
        assert not status["station"]["ready"] and "no exam" in status["station"]["reason"]

        steps = api.get("/api/worklist").json()
        assert [s["accession"] for s in steps] == ["ACC42"]
        assert steps[0]["patient"]["id"] == "ST-7"

        exam = api.post("/api/exam", json={"accession": "ACC42", "kv": 110, "mas": 2})
        assert exam.status_code == 200, exam.text
        assert api.get("/api/status").json()["station"]["ready"]

        assert api.post("/api/expose").status_code == 409, "the second stage needs READY"
        prepared = api.post("/api/prepare")
        assert prepared.status_code == 200, prepared.text
        assert prepared.json()["generator"] == "READY"
        assert api.get("/api/status").json()["generator"]["state"] == "READY"
        made = api.post("/api/expose")
        assert made.status_code == 200, made.text
        uid = made.json()["sop_instance_uid"]
        assert made.json()["review"] == "pending"
        (image,) = api.get("/api/images").json()
        assert image["sop_instance_uid"] == uid and image["destinations"] == {}
        preview = api.get(f"/api/images/{uid}/preview.png")
        assert preview.status_code == 200 and preview.content.startswith(b"\x89PNG")

        accepted = api.post(f"/api/images/{uid}/accept")
        assert accepted.status_code == 200, accepted.text
        rejected = api.post(f"/api/images/{uid}/reject", json={"reason": "positioning"})
        assert rejected.status_code == 409, "accepted: queued, no longer rejectable"

        def committed() -> bool:
            (img,) = api.get("/api/images").json()
            return img["destinations"].get("orthanc", {}).get("state") == "committed"

        helpers.until(committed, "the image to be committed by Orthanc")

    (instance,) = _orthanc_instances(orthanc, uid)
    stored = orthanc.file(instance)
    held = (tmp_path / "state" / "images" / "held" / f"{uid}.dcm").read_bytes()
    assert _pixel_sha(stored) == _pixel_sha(held)
    ds = pydicom.dcmread(io.BytesIO(stored))
    assert (ds.PatientID, ds.AccessionNumber, ds.StudyInstanceUID) == ("ST-7", "ACC42", STUDY_UID)

    states = [e["state"] for e in events.of("exposure")]
    assert states[:6] == ["preparing", "ready", "exposing", "readout", "processing", "queued"]
    helpers.until(
        lambda: any(
            e["sop_instance_uid"] == uid and e["state"] == "committed"
            for e in events.of("delivery")
        ),
        "the committed delivery event",
    )
    generator_states = [e["state"] for e in events.of("generator")]
    assert generator_states[:4] == ["PREP", "READY", "EXPOSING", "IDLE"]
    reviews = [e["review"] for e in events.of("image") if e["sop_instance_uid"] == uid]
    assert reviews == ["pending", "accepted"]
    for _, data in events.items:  # no patient data in events
        assert "ST-7" not in json.dumps(data) and "Station" not in json.dumps(data)

    assert station.signal(signal.SIGTERM) == 0


def test_killed_while_the_pacs_is_down_delivers_exactly_once_after_restart(
    orthanc, generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = helpers.config(tmp_path, generator.device_path, orthanc=orthanc)
    station = start_station(config)
    with station.client() as api:
        patient = {"id": "P-KILL", "name": "Kill^Nine"}
        assert api.post("/api/exam", json={"patient": patient, "kv": 90, "mas": 1}).is_success
        uid = api.post("/api/expose", json={"prepare": True}).json()["sop_instance_uid"]
        orthanc.stop()
        assert api.post(f"/api/images/{uid}/accept").is_success

        def failed_attempt() -> bool:
            (img,) = api.get("/api/images").json()
            d = img["destinations"]["orthanc"]
            return d["state"] == "queued" and bool(d["reason"])

        helpers.until(failed_attempt, "a failed delivery attempt while Orthanc is down")
    station.kill()

    orthanc.start()
    station.start()  # the same configuration, state and outbox
    with station.client() as api:

        def committed() -> bool:
            (img,) = api.get("/api/images").json()
            return img["destinations"]["orthanc"]["state"] == "committed"

        helpers.until(committed, "the image to be committed after the restart")
    assert len(_orthanc_instances(orthanc, uid)) == 1
    assert orthanc.rest("/statistics")["CountInstances"] == 1
    held = (tmp_path / "state" / "images" / "held" / f"{uid}.dcm").read_bytes()
    assert _pixel_sha(orthanc.file(_orthanc_instances(orthanc, uid)[0])) == _pixel_sha(held)
    assert station.signal(signal.SIGINT) == 130

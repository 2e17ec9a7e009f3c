"""Reject analysis (AAPM TG-305) and delivery retry, against the station process.

A reject names a TG-305 reason (else 422, nothing recorded); rejected images stay local,
are counted and exported as the reject-analysis CSV without patient data. A delivery
that failed (the retry policy gave up while Orthanc was down) is queued again by
``POST /api/images/{uid}/retry`` and committed.
"""

from __future__ import annotations

import csv
import io
import signal
from pathlib import Path

from panelgate.simulators.generator import SimulatedGenerator

PATIENT = {"id": "P-REJ-7781", "name": "Rejectus^Imogen", "birth_date": "19611203"}


def test_a_reject_needs_a_tg305_reason_and_is_exported_without_patient_data(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    station = start_station(helpers.config(tmp_path, generator.device_path))
    with station.client() as api:
        assert api.post("/api/exam", json={"patient": PATIENT, "protocol": "CHEST LAT"}).is_success
        assert api.post("/api/prepare").status_code == 200
        made = api.post("/api/expose").json()
        uid = made["sop_instance_uid"]

        for body, field in (
            ({}, "reason"),
            ({"reason": "blurry"}, "reason"),
            ({"reason": "motion"}, "reason"),
            ({"reason": "positioning", "note": 5}, "note"),
            ({"reason": "positioning", "who": "me"}, "who"),
        ):
            refused = api.post(f"/api/images/{uid}/reject", json=body)
            assert refused.status_code == 422 and refused.json()["field"] == field, body
        assert api.get("/api/images").json()[0]["review"] == "pending", "nothing recorded"

        body = {"reason": "patient_motion", "note": "breathing"}
        rejected = api.post(f"/api/images/{uid}/reject", json=body)
        assert rejected.status_code == 200, rejected.text
        image = rejected.json()
        assert (image["review"], image["review_reason"]) == ("rejected", "patient_motion")
        assert image["review_note"] == "breathing" and image["destinations"] == {}
        assert api.post(f"/api/images/{uid}/accept").status_code == 409, "never sent"
        assert api.post(f"/api/images/{uid}/retry").status_code == 409

        counts = api.get("/api/status").json()["images"]
        assert (counts["made"], counts["rejected"]) == (1, 1)
        assert counts["by_reason"]["patient_motion"] == 1 and counts["by_reason"]["other"] == 0

        exported = api.get("/api/rejects.csv")
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    (row,) = rows
    assert row["sop_instance_uid"] == uid and row["reason"] == "patient_motion"
    assert (row["protocol"], row["body_part"], row["view"]) == ("CHEST LAT", "CHEST", "LL")
    assert float(row["kv"]) == made["delivered"]["kv"] and float(row["mas"]) > 0
    assert float(row["target_ei"]) > 0 and row["station"] and row["rejected_utc"]
    assert float(row["ei"]) > 0 and row["di"] != ""
    for secret in (*PATIENT.values(), "Rejectus", "Imogen", "breathing"):
        assert secret not in exported.text
    outbox = tmp_path / "state" / "outbox" / "objects"
    assert not (outbox / f"{uid}.dcm").exists(), "a rejected image is never queued"
    assert station.signal(signal.SIGTERM) == 0


def test_a_failed_delivery_is_retried_on_request_and_committed(
    orthanc, generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = helpers.config(
        tmp_path, generator.device_path, orthanc=orthanc, retry={"max_attempts": 1}
    )
    station = start_station(config)
    with station.client() as api:
        assert api.post("/api/exam", json={"patient": PATIENT, "protocol": "HAND PA"}).is_success
        assert api.post("/api/prepare").status_code == 200
        uid = api.post("/api/expose").json()["sop_instance_uid"]
        assert api.post(f"/api/images/{uid}/retry").status_code == 409, "not accepted yet"
        orthanc.stop()
        assert api.post(f"/api/images/{uid}/accept").is_success

        def delivery() -> dict[str, str]:
            image = next(i for i in api.get("/api/images").json() if i["sop_instance_uid"] == uid)
            return image["destinations"]["orthanc"]  # type: ignore[no-any-return]

        helpers.until(lambda: delivery()["state"] == "failed", "the delivery to fail")
        assert delivery()["reason"], "a failed delivery says why"
        orthanc.start()
        retried = api.post(f"/api/images/{uid}/retry")
        assert retried.status_code == 200, retried.text
        helpers.until(lambda: delivery()["state"] == "committed", "the retried image committed")
        assert api.post(f"/api/images/{uid}/retry").status_code == 409, "nothing failed now"
    assert station.signal(signal.SIGTERM) == 0

"""Refusals of the station's API: nothing moves, one line names the field or the reason."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator
from panelgate.simulators.room import Room

ONE_CALL = {"prepare": True, "repeat_reason": "test exposure"}
"""``POST /api/expose`` body: both stages of the hand switch in one call, repeats allowed."""


def test_a_65_character_patient_id_is_refused_naming_the_field_and_nothing_moves(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    station = start_station(helpers.config(tmp_path, generator.device_path))
    with station.client() as api:
        body = {"patient": {"id": "P" * 65, "name": "Long^Id"}, "kv": 110, "mas": 2}
        refused = api.post("/api/exam", json=body)
        assert refused.status_code == 422
        error = refused.json()
        assert error["field"] == "patient.id"
        assert "64" in error["error"] and "\n" not in error["error"]

        prepare = api.post("/api/prepare")  # no exam was selected
        assert prepare.status_code == 409 and "no exam" in prepare.json()["error"]
        expose = api.post("/api/expose")  # not prepared
        assert expose.status_code == 409 and "not READY" in expose.json()["error"]

        too_high = api.post("/api/exam", json={**body, "patient": {"id": "P1", "name": "A^B"},
                                               "kv": 400})  # fmt: skip
        assert too_high.status_code == 422 and too_high.json()["field"] == "kv"
        assert api.post("/api/exam", json={"kv": 100, "mas": 1}).json()["field"] == "accession"
        assert api.post("/api/exam", json={**body, "mas": -1}).json()["field"] == "mas"
        bad_protocol = api.post(
            "/api/exam", json={"patient": {"id": "P1", "name": "A^B"}, "kv": 80, "mas": 1,
                               "protocol": "ELBOW SIDEWAYS"},
        )  # fmt: skip
        assert bad_protocol.status_code == 422 and bad_protocol.json()["field"] == "protocol"
        assert api.get("/api/worklist").status_code == 409  # none configured
        assert api.post("/api/images/1.2.3/accept").status_code == 404
        assert api.get("/api/images/..%2F..%2Fetc/preview.png").status_code == 404
        assert api.post("/api/abort").json() == {"aborted": False}
        assert api.get("/api/images").json() == []
    assert "PREP" not in generator.model.commands and "EXP" not in generator.model.commands
    assert generator.model.exposures == 0
    assert station.signal(signal.SIGTERM) == 0
    assert "P" * 65 not in station.stderr(), "no patient data in the log"


def test_sigterm_during_an_exposure_finishes_it_and_exits_0(
    start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    slow = GeneratorSpec(prep_s=1.0, time_scale=0.1)  # PREP to READY: the signal lands there
    with SimulatedGenerator(slow, seed=2, room=Room(helpers.room(tmp_path))) as generator:
        station = start_station(helpers.config(tmp_path, generator.device_path))
        events = station.read_events()
        with station.client() as api:
            body = {"patient": {"id": "P-TERM", "name": "Term^Signal"}, "kv": 80, "mas": 1}
            assert api.post("/api/exam", json=body).is_success
            answer: list[object] = []
            worker = threading.Thread(
                target=lambda: answer.append(api.post("/api/expose", json=ONE_CALL))
            )
            worker.start()
            helpers.until(
                lambda: any(e["state"] == "preparing" for e in events.of("exposure")),
                "the exposure to start",
            )
            assert station.signal(signal.SIGTERM) == 0
            worker.join(60)
        (response,) = answer
        assert response.status_code == 200, response.text  # type: ignore[attr-defined]
        uid = response.json()["sop_instance_uid"]  # type: ignore[attr-defined]
        assert (tmp_path / "state" / "images" / "held" / f"{uid}.dcm").is_file()
        assert generator.model.exposures == 1

    # a restart lists the image again, still awaiting review
    with SimulatedGenerator(slow, seed=3, room=Room(helpers.room(tmp_path))) as generator:
        config = helpers.config(tmp_path, generator.device_path)
        station = start_station(config)
        with station.client() as api:
            (image,) = api.get("/api/images").json()
            assert (image["sop_instance_uid"], image["review"]) == (uid, "pending")
            rejected = api.post(f"/api/images/{uid}/reject", json={"reason": "patient_motion"})
            assert rejected.json()["review"] == "rejected"
            assert api.post(f"/api/images/{uid}/accept").status_code == 409
        assert station.signal(signal.SIGINT) == 130
    outbox = tmp_path / "state" / "outbox" / "objects"
    assert not (outbox / f"{uid}.dcm").exists(), "a rejected image is never queued"


def test_abort_while_preparing_stops_before_the_beam(
    start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    slow = GeneratorSpec(prep_s=2.0, time_scale=0.1)  # PREP to READY: time to abort
    with SimulatedGenerator(slow, seed=5, room=Room(helpers.room(tmp_path))) as generator:
        station = start_station(helpers.config(tmp_path, generator.device_path))
        events = station.read_events()
        with station.client() as api:
            body = {"patient": {"id": "P-ABORT", "name": "Abort^Me"}, "kv": 80, "mas": 1}
            assert api.post("/api/exam", json=body).is_success
            answer: list[object] = []
            worker = threading.Thread(
                target=lambda: answer.append(api.post("/api/expose", json=ONE_CALL))
            )
            worker.start()
            helpers.until(
                lambda: any(e["state"] == "preparing" for e in events.of("exposure")),
                "the exposure to start",
            )
            assert api.post("/api/abort").json() == {"aborted": True}
            worker.join(60)
            (response,) = answer
            assert response.status_code == 409, response.text  # type: ignore[attr-defined]
            assert "aborted" in response.json()["error"]  # type: ignore[attr-defined]
            assert api.get("/api/images").json() == []
            assert api.get("/api/status").json()["station"]["ready"], "ready for the next one"
        assert "EXP" not in generator.model.commands and "ABORT" in generator.model.commands
        assert generator.model.exposures == 0
        assert events.of("exposure")[-1]["state"] == "idle"

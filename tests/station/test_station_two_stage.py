"""The two-stage exposure of the hand switch: prepare (PREP to READY), then expose from READY.

Against the station process and the simulated generator on a pty, whose own command log
says what reached it: nothing fires without READY, an abort at READY fires nothing, a
prepared exposure nobody fires is released, and a second exposure of the same step
needs a reason and is linked to the first.
"""

from __future__ import annotations

import signal
from pathlib import Path

from panelgate.simulators.generator import SimulatedGenerator

PATIENT = {"id": "P-STAGE", "name": "Two^Stage"}


def test_expose_without_prepare_is_refused_and_the_generator_never_preps(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    station = start_station(helpers.config(tmp_path, generator.device_path))
    with station.client() as api:
        assert api.post("/api/exam", json={"patient": PATIENT, "protocol": "CHEST PA"}).is_success
        refused = api.post("/api/expose")
        assert refused.status_code == 409
        assert "not READY" in refused.json()["error"] and "\n" not in refused.json()["error"]
        assert api.get("/api/status").json()["generator"]["state"] == "IDLE"
        assert api.post("/api/expose", json={"prepare": "yes"}).json()["field"] == "prepare"
        assert api.post("/api/prepare", json={"fire": True}).status_code == 422
        assert api.get("/api/images").json() == []
    assert "PREP" not in generator.model.commands and "EXP" not in generator.model.commands
    assert generator.model.exposures == 0
    assert station.signal(signal.SIGTERM) == 0


def test_prepare_holds_at_ready_until_expose_and_abort_at_ready_fires_nothing(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    station = start_station(helpers.config(tmp_path, generator.device_path))
    events = station.read_events()
    with station.client() as api:
        assert api.post("/api/exam", json={"patient": PATIENT, "protocol": "HAND PA"}).is_success
        ready = api.post("/api/prepare")
        assert ready.status_code == 200, ready.text
        assert ready.json()["generator"] == "READY" and generator.model.state == "READY"
        status = api.get("/api/status").json()
        assert status["generator"]["state"] == "READY"
        assert api.post("/api/prepare").status_code == 409, "one exposure at a time"
        assert "EXP" not in generator.model.commands, "READY is not fired by itself"

        assert api.post("/api/abort").json() == {"aborted": True}
        helpers.until(
            lambda: api.get("/api/status").json()["generator"]["state"] == "IDLE",
            "the generator back to IDLE",
        )
        assert "EXP" not in generator.model.commands and "ABORT" in generator.model.commands
        assert api.post("/api/expose").status_code == 409, "nothing prepared any more"
        assert generator.model.exposures == 0 and api.get("/api/images").json() == []

        assert api.post("/api/prepare").status_code == 200
        made = api.post("/api/expose")
        assert made.status_code == 200, made.text
        assert generator.model.exposures == 1
        (image,) = api.get("/api/images").json()
        assert image["sop_instance_uid"] == made.json()["sop_instance_uid"]
    states = [e["state"] for e in events.of("generator")]
    assert states == ["PREP", "READY", "IDLE", "PREP", "READY", "EXPOSING", "IDLE"], states
    assert station.signal(signal.SIGTERM) == 0


def test_a_prepared_exposure_nobody_fires_is_released_after_ready_hold_s(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = helpers.config(tmp_path, generator.device_path, station={"ready_hold_s": 0.5})
    station = start_station(config)
    with station.client() as api:
        assert api.post("/api/exam", json={"patient": PATIENT, "protocol": "FOOT AP"}).is_success
        assert api.post("/api/prepare").status_code == 200
        helpers.until(
            lambda: api.get("/api/status").json()["station"]["ready"], "the station ready again"
        )
        assert api.post("/api/expose").status_code == 409
        assert api.get("/api/status").json()["generator"]["state"] == "IDLE"
    assert "PREP" in generator.model.commands and "EXP" not in generator.model.commands
    assert generator.model.exposures == 0
    assert station.signal(signal.SIGTERM) == 0


def test_a_repeat_needs_a_reason_and_links_the_new_image_to_the_first(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path, dciodvfy
) -> None:  # type: ignore[no-untyped-def]
    station = start_station(helpers.config(tmp_path, generator.device_path))
    with station.client() as api:
        assert api.post("/api/exam", json={"patient": PATIENT, "protocol": "KNEE AP"}).is_success
        assert api.post("/api/prepare").status_code == 200
        first = api.post("/api/expose").json()["sop_instance_uid"]
        assert api.post(f"/api/images/{first}/reject", json={"reason": "positioning"}).is_success
        preps = list(generator.model.commands).count("PREP")

        refused = api.post("/api/prepare")
        assert refused.status_code == 422 and refused.json()["field"] == "repeat_reason"
        assert first in refused.json()["error"]
        assert api.post("/api/prepare", json={"repeat_reason": "  "}).status_code == 422
        assert list(generator.model.commands).count("PREP") == preps, "no PREP for a refusal"

        assert api.post("/api/prepare", json={"repeat_reason": "positioning"}).status_code == 200
        second = api.post("/api/expose")
        assert second.status_code == 200, second.text
        assert second.json()["repeat_of"] == first
        images = {i["sop_instance_uid"]: i for i in api.get("/api/images").json()}
        repeat = images[second.json()["sop_instance_uid"]]
        assert (repeat["repeat_of"], repeat["repeat_reason"]) == (first, "positioning")
        assert images[first]["repeat_of"] == ""

        # another protocol of the same step is no repeat
        assert api.post("/api/protocol", json={"protocol": "KNEE LAT"}).is_success
        assert api.post("/api/prepare").status_code == 200
        lateral = api.post("/api/expose").json()
        assert lateral["repeat_of"] == ""
    for uid in (first, second.json()["sop_instance_uid"]):
        errors, _ = dciodvfy(tmp_path / "state" / "images" / "held" / f"{uid}.dcm")
        assert errors == [], errors
    assert generator.model.exposures == 3
    assert station.signal(signal.SIGTERM) == 0

"""The guided recalibration over the API: questions as events, answers by POST, the set used.

The station process, the pty generator and the simulated panel in one X-ray room: the
floods reach the panel only through the generator's exposures (counted in its own log).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pydicom

from panelgate.simulators.generator import SimulatedGenerator

CALIBRATION = {"dark_frames": 2, "flood_frames": 2}
PATIENT = {"id": "P-RECAL", "name": "Re^Calibrated"}


def _run(api: Any) -> dict[str, Any]:
    return api.get("/api/calibration").json()["run"]  # type: ignore[no-any-return]


def test_the_operator_confirms_each_step_and_the_new_set_is_used(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "store"
    calibration = {**CALIBRATION, "directory": str(store)}
    station = start_station(
        helpers.config(tmp_path, generator.device_path, calibration=calibration)
    )
    events = station.read_events()
    with station.client() as api:
        before = api.get("/api/calibration").json()
        assert before["run"] is None and before["set_id"]
        assert api.post("/api/calibration/confirm").status_code == 409, "no run"
        assert api.post("/api/calibration/cancel").status_code == 409, "no run"

        assert api.post("/api/calibration/start").status_code == 200
        assert api.post("/api/calibration/start").status_code == 409, "one run at a time"
        assert api.post("/api/exam", json={"patient": PATIENT}).status_code == 409
        prompts: list[str] = []
        while True:
            run = helpers.until(
                lambda: (r := _run(api))["state"] != "running" and r, "a question or the end"
            )
            if run["state"] != "waiting":
                break
            prompts.append(run["prompt"])
            if len(prompts) == 1:
                assert generator.model.exposures == 0, "nothing fires before the first answer"
                wrong = api.post("/api/calibration/confirm", json={"prompt_id": 99})
                assert wrong.status_code == 409
            answer = {"prompt_id": run["prompt_id"]}
            assert api.post("/api/calibration/confirm", json=answer).status_code == 200
        assert run["state"] == "done", run
        assert "Remove everything from the beam" in prompts[0]
        assert [p.split(" at ")[1].split(":")[0] for p in prompts[1:]] == [
            "4 µGy", "8 µGy", "16 µGy"
        ]  # fmt: skip
        assert generator.model.exposures == 3 * (CALIBRATION["flood_frames"] + 1)
        after = api.get("/api/calibration").json()
        assert after["set_id"] == run["set_id"] != before["set_id"]
        assert str(store) in after["source"], "the stored set is in use"
        assert (store / run["set_id"]).is_dir()

        assert api.post("/api/exam", json={"patient": PATIENT, "protocol": "HAND PA"}).is_success
        assert api.post("/api/prepare").status_code == 200
        uid = api.post("/api/expose").json()["sop_instance_uid"]
    ds = pydicom.dcmread(tmp_path / "state" / "images" / "held" / f"{uid}.dcm")
    assert ds.AcquisitionDeviceProcessingDescription.endswith(f"calibration {run['set_id']}")
    pushed = events.of("recalibration")
    assert [e["prompt"] for e in pushed if e["state"] == "waiting"] == prompts
    assert pushed[-1]["state"] == "done" and pushed[-1]["set_id"] == run["set_id"]
    assert station.signal(signal.SIGTERM) == 0


def test_cancel_at_a_question_fires_nothing_and_stores_nothing(
    generator: SimulatedGenerator, start_station, helpers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "store"
    calibration = {**CALIBRATION, "directory": str(store)}
    station = start_station(
        helpers.config(tmp_path, generator.device_path, calibration=calibration)
    )
    with station.client() as api:
        assert api.post("/api/calibration/start").status_code == 200
        helpers.until(lambda: _run(api)["state"] == "waiting", "the first question")
        assert api.post("/api/calibration/cancel").status_code == 200
        run = helpers.until(
            lambda: (r := _run(api))["state"] not in ("running", "waiting") and r, "the end"
        )
        assert run["state"] == "cancelled" and "nothing stored" in run["error"]
        assert api.post("/api/exam", json={"patient": PATIENT, "protocol": "HAND PA"}).is_success
        assert api.get("/api/status").json()["station"]["ready"], "exposures possible again"
    assert generator.model.exposures == 0 and "EXP" not in generator.model.commands
    assert not store.exists() or not any(store.iterdir())
    assert station.signal(signal.SIGTERM) == 0

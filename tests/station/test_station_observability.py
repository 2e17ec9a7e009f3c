"""The station's GET /metrics and GET /api/health on a real station process (issue 17)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from panelgate.simulators.generator import SimulatedGenerator

PATIENT = {"id": "OBS-1", "name": "Observed^Patient"}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_after_an_exposure_and_health_with_a_dead_letter(
    generator: SimulatedGenerator, start_station: Any, helpers: Any, tmp_path: Path
) -> None:
    # a destination nobody listens on, one attempt only: the image is dead-lettered
    config = helpers.config(tmp_path, generator.device_path, retry={"max_attempts": 1})
    station = start_station(config)
    with station.client() as api:
        healthy = api.get("/api/health")
        assert healthy.status_code == 200, healthy.text  # ready but for an exam; nothing waits
        assert healthy.json()["expose"] == {"ok": True, "reason": ""}
        assert api.post("/api/exam", json={"kv": 70, "mas": 1, "patient": PATIENT}).is_success
        image = api.post("/api/expose", json={"prepare": True})
        assert image.is_success, image.text
        uid = image.json()["sop_instance_uid"]
        assert api.post(f"/api/images/{uid}/accept").is_success
        helpers.until(
            lambda: api.get("/api/health").status_code == 503, "the dead letter in /api/health"
        )
        body = api.get("/api/health").json()
        scraped = api.get("/metrics")
    assert body["ok"] is False and body["expose"]["ok"] is True
    nowhere = body["deliver"]["destinations"]["nowhere"]
    assert nowhere["ok"] is False and nowhere["failed"] == 1
    assert "dead letter" in nowhere["problems"][0]
    assert scraped.headers["content-type"].startswith("text/plain")
    got = _samples(scraped.text)
    assert got[("panelgate_exposures_total", (("outcome", "queued"),))] == 1
    for phase in ("prepare", "exposure", "readout", "processing"):
        assert got[("panelgate_phase_seconds_count", (("phase", phase),))] == 1, phase
    for stage in ("correction", "presentation", "build", "queue"):
        assert got[("panelgate_stage_seconds_count", (("stage", stage),))] == 1, stage
    assert got[("panelgate_outbox_instances", (("destination", "nowhere"), ("state", "failed")))]
    assert got[("panelgate_delivery_failures_total",
                (("destination", "nowhere"), ("kind", "unreachable")))] >= 1  # fmt: skip
    assert got[("panelgate_calibration_valid", ())] == 1
    assert got[("panelgate_detector_temperature_celsius", ())] > 0
    assert got[("panelgate_generator_faults", ())] == 0
    assert "OBS-1" not in scraped.text and "Observed" not in scraped.text

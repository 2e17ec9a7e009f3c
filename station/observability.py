"""The station's ``GET /metrics`` (Prometheus) and ``GET /api/health`` (can it expose and deliver).

The metrics are the agent's (:mod:`panelgate.acquisition.metrics`: exposures, phases,
deliveries, the outbox) plus gauges read from the station's status when scraped: the
detector's temperature, the calibration in use, the generator's fault and, for a GigE
Vision panel, the stream's packet counters.

Health answers the two questions a monitor asks, each with its reasons:

- **expose**: the station could start an exposure now, but for the technician choosing
  an exam (devices connected, calibration valid, nothing in progress);
- **deliver**: no destination has dead-lettered (failed) instances and none has an
  instance waiting longer than ``stuck_s`` (the archive is away or refusing).

``200`` when both hold, ``503`` otherwise; the body says which and why. No patient data.
An application made without a station (the OpenAPI test) still serves ``/api/health``:
``503`` with the reason ``no station`` (and no ``/metrics``).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from panelgate.acquisition.metrics import CONTENT_TYPE
from panelgate.gateway.outbox import State

if TYPE_CHECKING:
    from .service import Station

__all__ = ["NO_STATION", "STUCK_S", "health", "observability_routes", "station_gauges"]

STUCK_S = 300.0
"""An instance waiting longer than this (seconds) means delivery is stuck."""

_WAITING = (State.PENDING, State.INFLIGHT)
_NOT_FOR_AN_EXAM = "no exam selected"

NO_STATION = "no station"
"""The health reason of an application made without a station (it can do nothing)."""


def station_gauges(station: Station) -> dict[str, Any]:
    """Return the status values the metrics read when scraped (``acquisition.metrics``)."""
    status = station.status()
    gauges: dict[str, Any] = {}
    temp_c = status.get("detector", {}).get("temp_c")
    if isinstance(temp_c, int | float) and math.isfinite(temp_c):
        gauges["temperature_c"] = temp_c
    calibration = status.get("calibration") or {}
    created = calibration.get("created_utc")
    if created:
        age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(created)
        gauges["calibration_age_s"] = age.total_seconds()
        gauges["calibration_valid"] = calibration.get("status") == "valid"
    if calibration.get("dark_age_s") is not None:
        gauges["dark_age_s"] = calibration["dark_age_s"]
    gauges["generator_faults"] = 1 if status.get("generator", {}).get("fault") else 0
    counters = _detector_counters(station)
    if "packets_received" in counters:
        gauges["gige_packets"] = {
            "received": counters.get("packets_received", 0),
            "resent": counters.get("packets_resent", 0),
            "lost": counters.get("packets_missing", 0),
        }
    return gauges


def _detector_counters(station: Station) -> dict[str, int]:
    pipeline = station.room.pipeline
    if pipeline is None:
        return {}
    return pipeline.detector.counters()


def health(station: Station, now: float | None = None) -> tuple[bool, dict[str, Any]]:
    """Whether the station can expose and deliver, with the reasons; see the module."""
    now = time.time() if now is None else now
    reason = station.not_ready()
    can_expose = not reason or reason.startswith(_NOT_FOR_AN_EXAM)
    destinations: dict[str, dict[str, Any]] = {}
    for name in station.agent.destinations:
        records = station.agent.outbox.records(name)
        failed = sum(r.state is State.FAILED for r in records)
        waiting = [r.enqueued_at for r in records if r.state in _WAITING]
        oldest_s = now - min(waiting) if waiting else 0.0
        problems = []
        if failed:
            problems.append(f"{failed} instance(s) failed (dead letter; panelgate outbox retry)")
        if oldest_s > STUCK_S:
            problems.append(f"an instance has waited {oldest_s:.0f} s")
        destinations[name] = {
            "ok": not problems,
            "waiting": len(waiting),
            "failed": failed,
            "oldest_waiting_s": round(oldest_s, 1),
            "problems": problems,
        }
    can_deliver = all(d["ok"] for d in destinations.values())
    body = {
        "ok": can_expose and can_deliver,
        "expose": {"ok": can_expose, "reason": "" if can_expose else reason},
        "deliver": {"ok": can_deliver, "destinations": destinations},
    }
    return can_expose and can_deliver, body


def observability_routes(station: Station | None) -> list[Route]:
    """``GET /metrics`` and ``GET /api/health`` of a station; without one, a 503 health."""
    if station is None:
        return [Route("/api/health", _no_station, methods=["GET"])]
    station.agent.metrics.watch_status(lambda: station_gauges(station))

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(station.agent.metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE)

    async def health_check(request: Request) -> Response:
        ok, body = await run_in_threadpool(health, station)
        return JSONResponse(body, status_code=200 if ok else 503)

    return [
        Route("/metrics", metrics, methods=["GET"]),
        Route("/api/health", health_check, methods=["GET"]),
    ]


async def _no_station(request: Request) -> Response:
    body = {
        "ok": False,
        "expose": {"ok": False, "reason": NO_STATION},
        "deliver": {"ok": False, "destinations": {}},
    }
    return JSONResponse(body, status_code=503)

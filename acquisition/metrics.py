"""Prometheus metrics of an agent or a station (prometheus-client, text exposition format).

Three sources, none of which slows the work it measures:

- the exposure workflow's state changes (a listener): exposures by outcome, and the time
  spent in each phase (``prepare``, ``exposure``, ``readout``, ``processing``);
- the audit trail's events (a tee beside the ATNA forwarder): instances and bytes sent,
  failures by kind, storage-commitment delay, worklist queries, rejected associations;
- read when scraped: the outbox (instances per destination and state, age of the oldest
  pending one) and, through a status callable, the detector, calibration and generator.

Each :class:`Metrics` has its own registry (several agents in one test process do not
collide); :meth:`Metrics.exposition` renders it for ``GET /metrics``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from panelgate.gateway.outbox import Outbox, State

__all__ = ["CONTENT_TYPE", "METRIC_NAMES", "Metrics", "serve_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds: a phase lasts from milliseconds (processing of a small frame) to tens of seconds.
_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

# The workflow's states whose duration is a phase worth measuring, by phase name.
_PHASES = {
    "PREPARING": "prepare",
    "EXPOSING": "exposure",
    "READOUT": "readout",
    "PROCESSING": "processing",
}
_OUTCOMES = {"QUEUED": "queued", "FAILED": "failed"}

METRIC_NAMES = (
    "panelgate_exposures_total",
    "panelgate_phase_seconds",
    "panelgate_stage_seconds",
    "panelgate_instances_sent_total",
    "panelgate_bytes_sent_total",
    "panelgate_delivery_failures_total",
    "panelgate_commitment_delay_seconds",
    "panelgate_worklist_queries_total",
    "panelgate_associations_rejected_total",
    "panelgate_outbox_instances",
    "panelgate_outbox_oldest_pending_age_seconds",
    "panelgate_detector_temperature_celsius",
    "panelgate_calibration_age_seconds",
    "panelgate_calibration_valid",
    "panelgate_dark_age_seconds",
    "panelgate_generator_faults",
    "panelgate_gige_packets_total",
)
"""Every metric name (the README lists them; a test checks each is exported)."""


class Metrics:
    """The metrics of one agent or station.

    Parameters
    ----------
    outbox : Outbox, optional
        Read when scraped: instances per destination and state.
    status : callable, optional
        Returns a status mapping when scraped (see :meth:`_status_metrics` for the keys).
    clock : callable
        Wall-clock seconds (injected in tests).
    """

    def __init__(
        self,
        outbox: Outbox | None = None,
        status: Callable[[], Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.exposures = Counter(
            "panelgate_exposures", "Exposures by outcome", ["outcome"], registry=r
        )
        self.phase_seconds = Histogram(
            "panelgate_phase_seconds",
            "Time spent in each phase of the exposure workflow",
            ["phase"],
            buckets=_BUCKETS_S,
            registry=r,
        )
        self.stage_seconds = Histogram(
            "panelgate_stage_seconds",
            "Time of each stage of an image: correction, presentation processing, DX build, "
            "queueing (per exposure) and send (per round of instances sent to a destination)",
            ["stage"],
            buckets=_BUCKETS_S,
            registry=r,
        )
        self.instances_sent = Counter(
            "panelgate_instances_sent", "Instances stored by a destination", ["destination"],
            registry=r,
        )  # fmt: skip
        self.bytes_sent = Counter(
            "panelgate_bytes_sent", "Bytes of instances stored by a destination",
            ["destination"], registry=r,
        )  # fmt: skip
        self.delivery_failures = Counter(
            "panelgate_delivery_failures",
            "Instances a destination did not store, by kind (refused: the peer answered "
            "with a failure; unreachable: no association)",
            ["destination", "kind"],
            registry=r,
        )
        self.commitment_delay = Histogram(
            "panelgate_commitment_delay_seconds",
            "From the storage commitment request to the archive's report",
            buckets=_BUCKETS_S,
            registry=r,
        )
        self.worklist_queries = Counter(
            "panelgate_worklist_queries", "Worklist queries by outcome", ["outcome"], registry=r
        )
        self.associations_rejected = Counter(
            "panelgate_associations_rejected",
            "Associations the listener refused (calling AE not allowed)",
            registry=r,
        )
        self._state_since: dict[str, float] = {}
        self._lock = threading.Lock()
        self._scrape = _ScrapeCollector(outbox, status, clock)
        r.register(self._scrape)

    # -- sources ------------------------------------------------------------------------

    def watch_status(self, status: Callable[[], Mapping[str, Any]]) -> None:
        """Read gauges from ``status`` when scraped (the station's devices, calibration)."""
        self._scrape.status = status

    def state_change(self, change: Any) -> None:
        """Take one workflow :class:`~panelgate.acquisition.workflow.StateChange`."""
        old, new, t = change.old.name, change.new.name, float(change.t_mono_s)
        with self._lock:
            entered = self._state_since.pop("t", None)
            self._state_since["t"] = t
        if entered is not None and old in _PHASES:
            self.phase_seconds.labels(_PHASES[old]).observe(max(0.0, t - entered))
        if new in _OUTCOMES:
            self.exposures.labels(_OUTCOMES[new]).inc()
        elif change.event == "abort":
            self.exposures.labels("aborted").inc()

    def audit_event(self, event: Mapping[str, Any]) -> None:
        """Take one audit-trail event (see :mod:`panelgate.gateway.pacs.audit`)."""
        name = event.get("event")
        outcome = int(event.get("outcome", 0))
        if name == "instances-transferred":
            destination = str(event.get("destination", ""))
            count = len(event.get("instances", ()))
            if outcome == 0:
                self.instances_sent.labels(destination).inc(count)
                self.bytes_sent.labels(destination).inc(int(event.get("bytes", 0)))
                if "elapsed_s" in event:
                    self.stage_seconds.labels("send").observe(float(event["elapsed_s"]))
            else:
                kind = "refused" if outcome == 4 else "unreachable"
                self.delivery_failures.labels(destination, kind).inc(count)
        elif name == "worklist-query":
            self.worklist_queries.labels("success" if outcome == 0 else "failure").inc()
        elif name == "association-rejected":
            self.associations_rejected.inc()

    def stage_done(self, stage: str, seconds: float) -> None:
        """Take the time of one stage of an image (``correction``, ``build``, ...)."""
        self.stage_seconds.labels(stage).observe(max(0.0, seconds))

    def commitment_reported(self, delays_s: Iterator[float] | list[float]) -> None:
        """Take the request-to-report delays of the instances one commitment report names."""
        for delay_s in delays_s:
            self.commitment_delay.observe(max(0.0, float(delay_s)))

    def exposition(self) -> bytes:
        """Render the registry in the Prometheus text format (for ``GET /metrics``)."""
        return generate_latest(self.registry)


class _ScrapeCollector(Collector):
    """Gauges read when Prometheus scrapes: the outbox and the status callable."""

    def __init__(
        self,
        outbox: Outbox | None,
        status: Callable[[], Mapping[str, Any]] | None,
        clock: Callable[[], float],
    ) -> None:
        self._outbox = outbox
        self.status = status
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        if self._outbox is not None:
            yield from self._outbox_metrics(self._outbox)
        if self.status is not None:
            yield from _status_metrics(self.status())

    def _outbox_metrics(self, outbox: Outbox) -> Iterator[Metric]:
        count = GaugeMetricFamily(
            "panelgate_outbox_instances",
            "Instances in the outbox by destination and state",
            labels=["destination", "state"],
        )
        age = GaugeMetricFamily(
            "panelgate_outbox_oldest_pending_age_seconds",
            "Age of the oldest instance waiting to be sent, per destination",
            labels=["destination"],
        )
        tally: dict[tuple[str, str], int] = {}
        oldest: dict[str, float] = {}
        for record in outbox.records():
            key = (record.destination, record.state.value)
            tally[key] = tally.get(key, 0) + 1
            if record.state in (State.PENDING, State.INFLIGHT):
                first = oldest.get(record.destination, record.enqueued_at)
                oldest[record.destination] = min(first, record.enqueued_at)
        for (destination, state), n in sorted(tally.items()):
            count.add_metric([destination, state], n)
        now = self._clock()
        for destination, t in sorted(oldest.items()):
            age.add_metric([destination], max(0.0, now - t))
        yield count
        yield age


def _gauge(name: str, doc: str, value: Any, labels: Mapping[str, str] | None = None) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), float(value))
    return family


def _status_metrics(status: Mapping[str, Any]) -> Iterator[Metric]:
    """Gauges from a status mapping; absent or null keys are skipped.

    Keys: ``temperature_c``, ``calibration_age_s``, ``calibration_valid`` (bool),
    ``dark_age_s``, ``generator_faults`` (count), ``gige_packets`` (mapping of
    ``received``/``resent``/``lost`` to counts).
    """
    simple = (
        ("temperature_c", "panelgate_detector_temperature_celsius", "Detector temperature"),
        ("calibration_age_s", "panelgate_calibration_age_seconds", "Age of the gain set in use"),
        ("calibration_valid", "panelgate_calibration_valid", "1 when the calibration is valid"),
        ("dark_age_s", "panelgate_dark_age_seconds", "Age of the dark (offset) map in use"),
        ("generator_faults", "panelgate_generator_faults", "Generator faults now reported"),
    )
    for key, name, doc in simple:
        value = status.get(key)
        if value is not None:
            yield _gauge(name, doc, value)
    packets = status.get("gige_packets")
    if packets:
        family = CounterMetricFamily(
            "panelgate_gige_packets",
            "GVSP packets of the GigE Vision stream by fate",
            labels=["fate"],
        )
        for fate, n in sorted(packets.items()):
            family.add_metric([fate], float(n))
        yield family


def serve_metrics(metrics: Metrics, host: str, port: int) -> tuple[Any, threading.Thread]:
    """Serve ``GET /metrics`` on ``host:port`` in a thread (prometheus-client's server).

    Returns
    -------
    (server, thread)
        Call ``server.shutdown()`` and ``server.server_close()`` to stop it.
    """
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    return server, thread

"""Prometheus metrics: scraped over HTTP from a running agent and parsed as Prometheus does."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pydicom
import pytest
from prometheus_client.parser import text_string_to_metric_families

from panelgate.acquisition.agent import Agent
from panelgate.acquisition.config import parse_config
from panelgate.acquisition.metrics import METRIC_NAMES, Metrics
from panelgate.acquisition.workflow import ExposureState, StateChange
from panelgate.gateway.outbox import Outbox, State

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _scrape(port: int) -> Samples:
    reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    reply.raise_for_status()
    return _samples(reply.text)


def _agent(tmp_path: Path, pacs_port: int, metrics_port: int) -> Agent:
    return Agent(
        parse_config(
            {
                "outbox": {"directory": str(tmp_path / "outbox"), "reserve_mb": 0, "poll_s": 0.1},
                "retry": {"initial_s": 0.1, "max_s": 0.2},
                "destinations": {"pacs": {"port": pacs_port, "called_ae": "STORESCP"}},
                "metrics": {"port": metrics_port},
            }
        )
    )


def _wait(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


# pynetdicom 3.0.4 leaks the socket of a refused TCP connect (see tests/integration/
# test_storescp.py): only that warning is ignored, only in this test.
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
def test_agent_metrics_count_what_was_sent_and_what_waits(
    tmp_path: Path,
    dx: Callable[..., pydicom.Dataset],
    require_peer: Callable[[str], str],
    get_free_port: Callable[[], int],
    wait_listening: Callable[[int], None],
) -> None:
    pacs_port, metrics_port = get_free_port(), get_free_port()
    scp = subprocess.Popen(
        [require_peer("storescp"), "-od", str(tmp_path), "-aet", "STORESCP", str(pacs_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_listening(pacs_port)
    agent = _agent(tmp_path, pacs_port, metrics_port).start()
    try:
        for seed in range(2):
            agent.enqueue(dx(seed))
        _wait(lambda: len(agent.outbox.records("pacs", State.SENT)) == 2, "two instances sent")
        sizes = sum(r.size for r in agent.outbox.records("pacs", State.SENT))
        sent = _scrape(metrics_port)
        scp.terminate()
        scp.wait(timeout=10)
        agent.enqueue(dx(5))  # the archive is gone: it waits, and the failure is counted
        _wait(
            lambda: _scrape(metrics_port).get(
                ("panelgate_delivery_failures_total",
                 (("destination", "pacs"), ("kind", "unreachable"))), 0.0,
            ) >= 1,
            "an unreachable attempt counted",
        )  # fmt: skip
        waiting = _scrape(metrics_port)
    finally:
        agent.stop()
        if scp.poll() is None:
            scp.terminate()
            scp.wait(timeout=10)
    pacs = (("destination", "pacs"),)
    assert sent[("panelgate_instances_sent_total", pacs)] == 2
    assert sent[("panelgate_bytes_sent_total", pacs)] == sizes > 0
    assert sent[("panelgate_stage_seconds_count", (("stage", "send"),))] >= 1
    assert sent[("panelgate_outbox_instances", (("destination", "pacs"), ("state", "sent")))] == 2
    assert ("panelgate_outbox_oldest_pending_age_seconds", pacs) not in sent
    assert waiting[("panelgate_instances_sent_total", pacs)] == 2
    assert waiting[("panelgate_outbox_oldest_pending_age_seconds", pacs)] >= 0
    pending = sum(
        v for (name, labels), v in waiting.items()
        if name == "panelgate_outbox_instances" and ("state", "sent") not in labels
    )  # fmt: skip
    assert pending == 1


def _change(old: ExposureState, new: ExposureState, event: str, t: float) -> StateChange:
    return StateChange(old, new, event, "", t)


def test_workflow_phases_and_outcomes_from_state_changes() -> None:
    metrics = Metrics()
    s = ExposureState
    steps = [
        (s.IDLE, s.PREPARING, "prep", 10.0),
        (s.PREPARING, s.READY, "ready", 11.5),
        (s.READY, s.EXPOSING, "fire", 12.0),
        (s.EXPOSING, s.READOUT, "done", 12.1),
        (s.READOUT, s.PROCESSING, "frame", 13.1),
        (s.PROCESSING, s.QUEUED, "queued", 13.4),
        (s.QUEUED, s.IDLE, "next", 13.5),
        (s.IDLE, s.PREPARING, "prep", 20.0),
        (s.PREPARING, s.IDLE, "abort", 20.2),
    ]
    for old, new, event, t in steps:
        metrics.state_change(_change(old, new, event, t))
    got = _samples(metrics.exposition().decode())

    def phase_sum(name: str) -> float:
        return got[("panelgate_phase_seconds_sum", (("phase", name),))]

    assert phase_sum("prepare") == pytest.approx(1.5 + 0.2)
    assert phase_sum("exposure") == pytest.approx(0.1)
    assert phase_sum("readout") == pytest.approx(1.0)
    assert phase_sum("processing") == pytest.approx(0.3)
    assert got[("panelgate_phase_seconds_count", (("phase", "prepare"),))] == 2
    assert got[("panelgate_exposures_total", (("outcome", "queued"),))] == 1
    assert got[("panelgate_exposures_total", (("outcome", "aborted"),))] == 1


def test_every_documented_metric_is_exported(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset]
) -> None:
    outbox = Outbox(tmp_path / "outbox", ["a"], clock=lambda: 40.0)
    outbox.enqueue_dataset(dx(1))
    status = {
        "temperature_c": 31.5,
        "calibration_age_s": 3600.0,
        "calibration_valid": True,
        "dark_age_s": 60.0,
        "generator_faults": 0,
        "gige_packets": {"received": 10, "resent": 1, "lost": 0},
    }
    metrics = Metrics(outbox, lambda: status, clock=lambda: 100.0)
    metrics.state_change(_change(ExposureState.IDLE, ExposureState.PREPARING, "prep", 1.0))
    metrics.state_change(_change(ExposureState.PREPARING, ExposureState.FAILED, "fail", 2.0))
    for event in (
        {"event": "instances-transferred", "destination": "a", "instances": ["1"], "bytes": 9},
        {"event": "instances-transferred", "destination": "a", "instances": ["2"], "outcome": 4},
        {"event": "worklist-query", "outcome": 0},
        {"event": "association-rejected", "outcome": 8},
    ):
        metrics.audit_event(event)
    metrics.commitment_reported([0.5])
    metrics.stage_done("correction", 0.02)
    text = metrics.exposition().decode()
    families = {f.name for f in text_string_to_metric_families(text)}
    for name in METRIC_NAMES:
        assert name.removesuffix("_total") in families, name
    got = _samples(text)
    assert got[("panelgate_outbox_oldest_pending_age_seconds", (("destination", "a"),))] == 60.0
    assert got[("panelgate_detector_temperature_celsius", ())] == 31.5
    assert got[("panelgate_calibration_valid", ())] == 1.0
    assert got[("panelgate_gige_packets_total", (("fate", "resent"),))] == 1
    assert got[("panelgate_exposures_total", (("outcome", "failed"),))] == 1

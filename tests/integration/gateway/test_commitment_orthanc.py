"""Storage Commitment against Orthanc: N-ACTION from the agent, N-EVENT-REPORT to its listener."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
import pytest

from panelgate.acquisition.agent import Agent
from panelgate.acquisition.config import Config, DicomConfig
from panelgate.acquisition.gateway_config import (
    DestinationConfig,
    ListenerConfig,
    OutboxConfig,
    RetryConfig,
)
from panelgate.gateway.outbox import State


def agent_config(tmp_path: Path, orthanc: Any, **outbox: Any) -> Config:
    return Config(
        dicom=DicomConfig(calling_ae="AGENT"),
        outbox=OutboxConfig(
            directory=str(tmp_path / "outbox"),
            reserve_mb=0.0,
            poll_s=0.1,
            commit_timeout_s=20.0,
            audit_file=str(tmp_path / "audit.jsonl"),
            **outbox,
        ),
        retry=RetryConfig(initial_s=0.1, max_s=0.5),
        listener=ListenerConfig(
            ae_title="AGENT", port=orthanc.agent_port, allowed_calling_aes=(orthanc.aet,)
        ),
        destinations={
            "orthanc": DestinationConfig(
                port=orthanc.dicom_port, called_ae=orthanc.aet, commitment=True, dimse_s=10.0
            )
        },
    )


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 40.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def _pixel_hashes(orthanc: Any) -> dict[str, str]:
    hashes = {}
    for instance in orthanc.rest("/instances"):
        ds = pydicom.dcmread(io.BytesIO(orthanc.file(instance)))
        hashes[str(ds.SOPInstanceUID)] = hashlib.sha256(ds.PixelData).hexdigest()
    return hashes


def test_orthanc_commits_what_the_agent_stored(
    tmp_path: Path, orthanc_sc: Any, dx: Callable[..., pydicom.Dataset]
) -> None:
    agent = Agent(agent_config(tmp_path, orthanc_sc), seed=1)
    sent = {}
    for i in range(3):
        ds = dx(i)
        agent.outbox.enqueue_dataset(ds)
        sent[str(ds.SOPInstanceUID)] = hashlib.sha256(ds.PixelData).hexdigest()
    agent.start()
    try:
        wait_for(
            lambda: len(agent.outbox.records("orthanc", State.COMMITTED)) == 3,
            f"3 committed instances; outbox {agent.outbox.counts()}; Orthanc:\n{orthanc_sc.log()}",
        )
    finally:
        agent.stop()
    assert _pixel_hashes(orthanc_sc) == sent
    events = agent.audit.events()
    commitment = [e for e in events if e["event"] == "storage-commitment"]
    assert commitment and commitment[0]["remote_ae"] == orthanc_sc.aet
    assert {u for e in commitment for u in e["instances"]} == set(sent)
    # Committed files go once the retention is over; the records stay (idempotency).
    released = agent.outbox.release_expired(0.0, {"orthanc": State.COMMITTED})
    assert sorted(released) == sorted(sent)
    assert len(agent.outbox.records("orthanc", State.COMMITTED)) == 3


def test_instance_reported_as_not_committed_is_sent_again(
    tmp_path: Path, orthanc_sc: Any, dx: Callable[..., pydicom.Dataset]
) -> None:
    agent = Agent(agent_config(tmp_path, orthanc_sc), seed=2)
    ds = dx(7)
    (record,) = agent.outbox.enqueue_dataset(ds)
    # Pretend it was stored: Orthanc has never seen it and will report 0x0112.
    agent.outbox.move(agent.outbox.move(record, State.INFLIGHT), State.SENT)
    agent.start()
    try:
        wait_for(
            lambda: bool(agent.outbox.records("orthanc", State.COMMITTED)),
            f"the instance committed after a resend; Orthanc:\n{orthanc_sc.log()}",
        )
    finally:
        agent.stop()
    (committed,) = agent.outbox.records("orthanc")
    assert committed.generation > 6  # sent, asked, failed, pending, in flight, sent, asked, ...
    failures = [
        e for e in agent.audit.events() if e["event"] == "storage-commitment" and e["failed"]
    ]
    assert failures and failures[0]["instances"] == [str(ds.SOPInstanceUID)]
    assert list(_pixel_hashes(orthanc_sc)) == [str(ds.SOPInstanceUID)]

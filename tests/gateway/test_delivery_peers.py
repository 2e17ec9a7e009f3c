"""Delivery against scripted, misbehaving PACS peers (pynetdicom SCPs on 127.0.0.1).

Each peer ends the outbox in the state its behaviour calls for, with the reason recorded:
failure status -> failed; abort, timeout, out of resources, peer down -> pending with
backoff (failed once the policy gives up); only uncompressed accepted -> sent uncompressed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGLSLossless
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    DigitalXRayImageStorageForPresentation,
    StorageCommitmentPushModel,
)

from panelgate.gateway.outbox import DestinationWorker, Outbox, RetryPolicy, State
from panelgate.gateway.pacs import AuditTrail, Destination

FAST = RetryPolicy(initial_s=0.01, max_s=0.02, multiplier=2.0, max_attempts=0)


class ScriptedPacs:
    """A pynetdicom Storage SCP whose C-STORE handler the test scripts."""

    def __init__(self, handler: Callable[[Any], int], syntaxes: list[str]) -> None:
        self.received: list[pydicom.Dataset] = []
        self.associations = 0
        self.release = threading.Event()
        ae = AE(ae_title="SCRIPTED")
        ae.add_supported_context(DigitalXRayImageStorageForPresentation, syntaxes)
        ae.add_supported_context(StorageCommitmentPushModel)
        ae.require_called_aet = True

        def on_store(event: Any) -> int:
            return handler(self, event)

        def on_open(_event: Any) -> None:
            self.associations += 1

        self.server = ae.start_server(
            ("127.0.0.1", 0),
            block=False,
            evt_handlers=[(evt.EVT_C_STORE, on_store), (evt.EVT_ACCEPTED, on_open)],
        )
        self.port = int(self.server.server_address[1])

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()


def store_ok(pacs: ScriptedPacs, event: Any) -> int:
    ds = event.dataset
    ds.file_meta = event.file_meta
    pacs.received.append(ds)
    return 0x0000


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedPacs]]:
    started: list[ScriptedPacs] = []

    def start(
        handler: Callable[[ScriptedPacs, Any], int] = store_ok, syntaxes: list[str] | None = None
    ) -> ScriptedPacs:
        pacs = ScriptedPacs(handler, syntaxes or ALL_TRANSFER_SYNTAXES)
        started.append(pacs)
        return pacs

    yield start
    for pacs in started:
        pacs.stop()


def _worker(
    tmp_path: Path, port: int, policy: RetryPolicy = FAST, called_ae: str = "SCRIPTED", **dest: Any
) -> DestinationWorker:
    outbox = Outbox(tmp_path / "spool", ["pacs"])
    destination = Destination("127.0.0.1", port, called_ae=called_ae, calling_ae="AGENT", **dest)
    audit = AuditTrail(tmp_path / "audit.jsonl")
    return DestinationWorker(outbox, "pacs", destination, policy, audit=audit)


def _drain(worker: DestinationWorker, rounds: int = 50) -> None:
    """Run rounds until nothing is pending (backoff delays here are milliseconds)."""
    for _ in range(rounds):
        worker.run_once()
        if not worker.outbox.records("pacs", State.PENDING):
            return
        time.sleep(0.03)


def test_accepting_peer_gets_every_instance_on_one_association(
    tmp_path: Path, scripted: Callable[..., ScriptedPacs], dx: Callable[..., pydicom.Dataset]
) -> None:
    pacs = scripted()
    worker = _worker(tmp_path, pacs.port)
    sent = [dx(i) for i in range(3)]
    for ds in sent:
        worker.outbox.enqueue_dataset(ds)
    assert worker.run_once() == 3
    assert [r.state for r in worker.outbox.records()] == [State.SENT] * 3
    assert sorted(d.SOPInstanceUID for d in pacs.received) == sorted(d.SOPInstanceUID for d in sent)
    assert pacs.associations == 1
    events = worker._audit.events()
    assert events[-1]["event"] == "instances-transferred" and len(events[-1]["instances"]) == 3
    worker.stop()


def test_failure_status_goes_to_dead_letter_with_the_reason(
    tmp_path: Path, scripted: Callable[..., ScriptedPacs], dx: Callable[..., pydicom.Dataset]
) -> None:
    pacs = scripted(lambda _p, _e: 0xC000)
    worker = _worker(tmp_path, pacs.port)
    worker.outbox.enqueue_dataset(dx(1))
    worker.run_once()
    (record,) = worker.outbox.records()
    assert record.state is State.FAILED
    assert record.reason.startswith("0xC000 (cannot understand)")
    worker.stop()


def test_out_of_resources_is_retried_with_backoff(
    tmp_path: Path, scripted: Callable[..., ScriptedPacs], dx: Callable[..., pydicom.Dataset]
) -> None:
    replies = iter([0xA700, 0xA700, 0x0000])
    pacs = scripted(lambda p, e: (code := next(replies)) or store_ok(p, e) or code)
    worker = _worker(tmp_path, pacs.port, RetryPolicy(initial_s=0.05, max_s=0.1))
    worker.outbox.enqueue_dataset(dx(1))
    worker.run_once()
    (record,) = worker.outbox.records()
    assert (record.state, record.attempts) == (State.PENDING, 1)
    assert "0xA700" in record.reason and record.next_attempt_at > record.updated_at
    _drain(worker)
    (record,) = worker.outbox.records()
    assert (record.state, record.attempts) == (State.SENT, 2)
    assert len(pacs.received) == 1
    worker.stop()


def test_aborting_peer_is_retried_then_dead_lettered_when_the_policy_gives_up(
    tmp_path: Path, scripted: Callable[..., ScriptedPacs], dx: Callable[..., pydicom.Dataset]
) -> None:
    def abort(_pacs: ScriptedPacs, event: Any) -> int:
        event.assoc.abort()
        return 0x0000

    pacs = scripted(abort)
    worker = _worker(tmp_path, pacs.port, RetryPolicy(initial_s=0.01, max_s=0.02, max_attempts=2))
    worker.outbox.enqueue_dataset(dx(1))
    worker.run_once()
    (record,) = worker.outbox.records()
    assert (record.state, record.attempts) == (State.PENDING, 1)
    assert "no status" in record.reason or "association lost" in record.reason
    _drain(worker)
    (record,) = worker.outbox.records()
    assert record.state is State.FAILED
    assert record.reason.startswith("gave up after 2 attempts")
    assert pacs.received == []
    worker.stop()


def test_silent_peer_times_out_and_is_retried(
    tmp_path: Path, scripted: Callable[..., ScriptedPacs], dx: Callable[..., pydicom.Dataset]
) -> None:
    def never_answer(pacs: ScriptedPacs, _event: Any) -> int:
        pacs.release.wait(30)
        return 0x0000

    pacs = scripted(never_answer)
    worker = _worker(tmp_path, pacs.port, dimse_s=0.5)
    worker.outbox.enqueue_dataset(dx(1))
    worker.run_once()
    (record,) = worker.outbox.records()
    assert (record.state, record.attempts) == (State.PENDING, 1)
    assert "timeout" in record.reason or "association lost" in record.reason
    worker.stop()


def test_peer_accepting_only_uncompressed_gets_decompressed_pixels(
    tmp_path: Path, scripted: Callable[..., ScriptedPacs], dx: Callable[..., pydicom.Dataset]
) -> None:
    pacs = scripted(syntaxes=[ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    worker = _worker(tmp_path, pacs.port)
    ds = dx(4)
    original = ds.pixel_array.copy()
    ds.compress(JPEGLSLossless, encoding_plugin="pyjpegls")
    (record,) = worker.outbox.enqueue_dataset(ds)
    assert record.transfer_syntax == JPEGLSLossless
    worker.run_once()
    assert worker.outbox.records()[0].state is State.SENT
    (received,) = pacs.received
    assert received.file_meta.TransferSyntaxUID in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
    assert received.SOPInstanceUID == record.sop_instance_uid  # the same instance, decompressed
    assert np.array_equal(received.pixel_array, original)
    worker.stop()


def test_peer_accepting_compression_gets_the_compressed_file(
    tmp_path: Path, scripted: Callable[..., ScriptedPacs], dx: Callable[..., pydicom.Dataset]
) -> None:
    pacs = scripted()
    worker = _worker(tmp_path, pacs.port)
    ds = dx(5)
    ds.compress(JPEGLSLossless, encoding_plugin="pyjpegls")
    worker.outbox.enqueue_dataset(ds)
    worker.run_once()
    (received,) = pacs.received
    assert received.file_meta.TransferSyntaxUID == JPEGLSLossless
    worker.stop()


# pynetdicom 3.0 leaks the socket of a refused connection (closed only by the GC).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_unreachable_peer_is_retried_and_rejecting_peer_dead_lettered(
    tmp_path: Path,
    scripted: Callable[..., ScriptedPacs],
    dx: Callable[..., pydicom.Dataset],
    get_free_port: Callable[[], int],
) -> None:
    down = _worker(tmp_path / "down", get_free_port(), connect_s=1.0)
    down.outbox.enqueue_dataset(dx(1))
    down.run_once()
    (record,) = down.outbox.records()
    assert record.state is State.PENDING and "cannot reach PACS" in record.reason
    down.stop()

    pacs = scripted()
    wrong_ae = _worker(tmp_path / "wrong", pacs.port, called_ae="NOT-THE-PACS")
    wrong_ae.outbox.enqueue_dataset(dx(1))
    wrong_ae.run_once()
    (record,) = wrong_ae.outbox.records()
    assert record.state is State.FAILED and "rejected the association" in record.reason
    wrong_ae.stop()


def test_stop_finishes_the_instance_in_flight_and_leaves_the_rest_pending(
    tmp_path: Path, scripted: Callable[..., ScriptedPacs], dx: Callable[..., pydicom.Dataset]
) -> None:
    entered = threading.Event()

    def slow(pacs: ScriptedPacs, event: Any) -> int:
        entered.set()
        pacs.release.wait(0.5)
        return store_ok(pacs, event)

    pacs = scripted(slow)
    worker = _worker(tmp_path, pacs.port)
    for seed in range(3):
        worker.outbox.enqueue_dataset(dx(seed))
    worker.start()
    assert entered.wait(30)
    worker.stop()  # as on SIGTERM: the C-STORE under way completes, nothing new starts
    counts = worker.outbox.counts()["pacs"]
    assert counts["inflight"] == 0
    assert counts["sent"] == len(pacs.received) >= 1
    assert counts["sent"] + counts["pending"] == 3


def test_bookkeeping_overlaps_the_peer_storing_and_settles_every_instance(
    tmp_path: Path, scripted: Callable[..., ScriptedPacs], dx: Callable[..., pydicom.Dataset]
) -> None:
    # While the peer stores instance i, the worker has already marked instance i + 1 in
    # flight and settled instance i - 1; after the round every instance is sent and none
    # is left in flight.
    seen: list[dict[str, int]] = []

    def watching(pacs: ScriptedPacs, event: Any) -> int:
        # Before answering: the previous instance gets settled meanwhile (poll: the
        # worker's bookkeeping runs in its own thread once the data set is sent).
        deadline = time.monotonic() + 10
        while worker.outbox.counts()["pacs"]["sent"] < len(seen) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        seen.append(dict(worker.outbox.counts()["pacs"]))
        return store_ok(pacs, event)

    pacs = scripted(watching)
    worker = _worker(tmp_path, pacs.port)
    for seed in range(4):
        worker.outbox.enqueue_dataset(dx(seed))
    assert worker.run_once() == 4
    worker.stop()
    assert worker.outbox.counts()["pacs"]["sent"] == 4
    assert worker.outbox.counts()["pacs"]["inflight"] == 0
    # During each C-STORE, its successor is already in flight and its predecessor sent.
    assert [s["inflight"] for s in seen] == [2, 2, 2, 1]
    assert [s["sent"] for s in seen] == [0, 1, 2, 3]

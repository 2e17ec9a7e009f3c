"""One bad instance never jams the outbox (issue 11, section 3), with pynetdicom peers on loopback.

A peer that aborts the association on one SOP Instance UID (dcmtk storescp cannot target
one), an instance that cannot be converted to what the peer accepts, a truncated data set
sent to the embedded PACS, and the crash-recovery rules of the spool.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGLSLossless
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation  # type: ignore[attr-defined]

from panelgate.acquisition.cli import main
from panelgate.gateway.outbox import DestinationWorker, Outbox, RetryPolicy, State
from panelgate.gateway.outbox.intent import write_intent
from panelgate.gateway.pacs import Destination, EmbeddedPacs, Outcome, store_files

GIVE_UP_AFTER = 3
FAST = RetryPolicy(initial_s=0.01, max_s=0.05, multiplier=2.0, max_attempts=GIVE_UP_AFTER)


class PoisonedPacs:
    """A Storage SCP that aborts the association whenever it is sent one SOP Instance UID."""

    def __init__(self, poison_uid: str, syntaxes: list[str]) -> None:
        self.poison_uid = poison_uid
        self.attempts: Counter[str] = Counter()
        self.stored: dict[str, pydicom.Dataset] = {}
        self._lock = threading.Lock()
        ae = AE(ae_title="POISONED")
        ae.add_supported_context(DigitalXRayImageStorageForPresentation, syntaxes)
        self.server = ae.start_server(
            ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)]
        )
        self.port = int(self.server.server_address[1])

    def _on_store(self, event: Any) -> int:
        uid = str(event.request.AffectedSOPInstanceUID)
        with self._lock:
            self.attempts[uid] += 1
        if uid == self.poison_uid:
            event.assoc.abort()
            return 0x0000
        ds = event.dataset
        ds.file_meta = event.file_meta
        with self._lock:
            self.stored[uid] = ds
        return 0x0000


@pytest.fixture
def poisoned() -> Iterator[Callable[..., PoisonedPacs]]:
    started: list[PoisonedPacs] = []

    def start(poison_uid: str = "", syntaxes: list[str] | None = None) -> PoisonedPacs:
        pacs = PoisonedPacs(poison_uid, syntaxes or ALL_TRANSFER_SYNTAXES)
        started.append(pacs)
        return pacs

    yield start
    for pacs in started:
        pacs.server.shutdown()


def _drain(worker: DestinationWorker, rounds: int = 300) -> None:
    for _ in range(rounds):
        worker.run_once()
        counts = worker.outbox.counts()[worker.name]
        if counts["pending"] == counts["inflight"] == 0:
            return
        worker._wake.wait(0.02)
    raise AssertionError(f"still not delivered: {worker.outbox.counts()}")


def _worker(tmp_path: Path, port: int, dimse_s: float = 60.0) -> DestinationWorker:
    outbox = Outbox(tmp_path / "spool", ["pacs"])
    destination = Destination(
        "127.0.0.1", port, called_ae="POISONED", calling_ae="AGENT", dimse_s=dimse_s
    )
    return DestinationWorker(outbox, "pacs", destination, FAST)


def test_instance_that_makes_the_peer_abort_is_dead_lettered_and_the_rest_delivered_once(
    tmp_path: Path,
    poisoned: Callable[..., PoisonedPacs],
    dx: Callable[..., pydicom.Dataset],
    caplog: pytest.LogCaptureFixture,
) -> None:
    instances = [dx(seed) for seed in range(5)]
    poison = instances[1]  # queued second: every round starts with it or just before it
    pacs = poisoned(str(poison.SOPInstanceUID))
    # A DIMSE timeout far beyond the test's own: waiting for it once would fail the test.
    worker = _worker(tmp_path, pacs.port, dimse_s=600.0)
    for ds in instances:
        worker.outbox.enqueue_dataset(ds)
    with caplog.at_level(logging.WARNING, logger="panelgate"):
        _drain(worker)
    worker.stop()

    records = {r.sop_instance_uid: r for r in worker.outbox.records()}
    dead = records.pop(str(poison.SOPInstanceUID))
    assert dead.state is State.FAILED and dead.attempts == GIVE_UP_AFTER
    assert dead.reason.startswith(f"gave up after {GIVE_UP_AFTER} attempts")
    assert {r.state for r in records.values()} == {State.SENT}
    assert all(r.attempts == 0 for r in records.values()), "others charged for the poison"
    assert pacs.attempts[poison.SOPInstanceUID] == GIVE_UP_AFTER
    good = [str(ds.SOPInstanceUID) for ds in instances if ds is not poison]
    assert sorted(pacs.stored) == sorted(good)
    assert all(pacs.attempts[uid] == 1 for uid in good), "delivered more than once"
    for ds in instances:
        if ds is not poison:
            assert np.array_equal(pacs.stored[ds.SOPInstanceUID].pixel_array, ds.pixel_array)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    dead_letter = [w for w in warnings if w.startswith("dead-lettered")]
    assert len(dead_letter) == 1 and poison.SOPInstanceUID in dead_letter[0]
    assert "pacs" in dead_letter[0]
    assert not any("Doe" in w or "PID-SECRET" in w for w in warnings), "patient data logged"


def test_instance_that_cannot_be_converted_fails_with_the_reason_and_blocks_nothing(
    tmp_path: Path, poisoned: Callable[..., PoisonedPacs], dx: Callable[..., pydicom.Dataset]
) -> None:
    # The peer takes uncompressed only; the first instance's JPEG-LS stream is corrupt (it
    # got in by the acquisition path, which does not decode), so it cannot be decompressed.
    pacs = poisoned(syntaxes=[ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    worker = _worker(tmp_path, pacs.port)
    broken = dx(1)
    broken.compress(JPEGLSLossless, encoding_plugin="pyjpegls")
    buffer = io.BytesIO()
    broken.save_as(buffer, enforce_file_format=True)
    data = bytearray(buffer.getvalue())
    data[-600:-500] = b"\xff" * 100
    worker.outbox.enqueue_bytes(bytes(data), acquired=True)
    fine = dx(2)
    worker.outbox.enqueue_dataset(fine)
    _drain(worker)
    worker.stop()

    states = {r.sop_instance_uid: r for r in worker.outbox.records()}
    failed = states[str(broken.SOPInstanceUID)]
    assert failed.state is State.FAILED
    assert "cannot be converted to Explicit VR Little Endian" in failed.reason
    assert "cannot be decoded" in failed.reason or "cannot convert" in failed.reason
    assert states[str(fine.SOPInstanceUID)].state is State.SENT
    assert list(pacs.stored) == [str(fine.SOPInstanceUID)]
    assert pacs.attempts[broken.SOPInstanceUID] == 0, "an undecodable instance was sent"


def test_embedded_pacs_refuses_a_truncated_data_set_with_0xC210_and_stores_nothing(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset]
) -> None:
    good, cut = dx(1), dx(2)
    good.save_as(tmp_path / "good.dcm", enforce_file_format=True)
    buffer = io.BytesIO()
    cut.save_as(buffer, enforce_file_format=True)
    (tmp_path / "cut.dcm").write_bytes(buffer.getvalue()[:-100])
    with EmbeddedPacs(tmp_path / "pacs") as pacs:
        destination = Destination("127.0.0.1", pacs.port, called_ae=pacs.ae_title)
        results = store_files([tmp_path / "cut.dcm", tmp_path / "good.dcm"], destination)
    refused, stored = results
    assert refused.outcome is Outcome.FAIL
    assert refused.status.startswith("0xC210 (cannot understand): truncated")
    assert stored.outcome is Outcome.SUCCESS
    assert sorted(p.name for p in (tmp_path / "pacs").iterdir()) == [f"{good.SOPInstanceUID}.dcm"]


def test_recovery_finishes_an_interrupted_queuing_for_the_destinations_asked_for_only(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset]
) -> None:
    # What a SIGKILL leaves: an intent and the file, but no record yet (queued for "a").
    outbox = Outbox(tmp_path, ["a", "b"])
    interrupted, nobodys = dx(1), dx(2)
    write_intent(tmp_path / "intents", str(interrupted.SOPInstanceUID), ["a"])
    interrupted.save_as(outbox.object_path(interrupted.SOPInstanceUID), enforce_file_format=True)
    # A file with neither intent nor record (left by an older version): nobody asked.
    nobodys.save_as(outbox.object_path(nobodys.SOPInstanceUID), enforce_file_format=True)

    counts = Outbox(tmp_path, ["a", "b"]).recover()
    assert (counts["resumed"], counts["orphans"]) == (1, 1)
    records = outbox.records()
    assert [(r.sop_instance_uid, r.destination, r.state) for r in records] == [
        (interrupted.SOPInstanceUID, "a", State.PENDING)
    ]
    assert not outbox.object_path(nobodys.SOPInstanceUID).exists()
    assert (tmp_path / "orphans" / f"{nobodys.SOPInstanceUID}.dcm").exists()
    assert list((tmp_path / "intents").iterdir()) == []
    assert [p.stem for p in outbox.orphans()] == [nobodys.SOPInstanceUID]


def test_outbox_status_tells_the_operator_about_orphans(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset], capsys: pytest.CaptureFixture[str]
) -> None:
    spool = tmp_path / "spool"
    config = tmp_path / "panelgate.toml"
    config.write_text(f'[outbox]\ndirectory = "{spool}"\n[destinations.a]\nport = 4242\n')
    nobodys = dx(3)
    Outbox(spool, ["a"])  # make the spool, then leave a file nobody queued in it
    nobodys.save_as(spool / "objects" / f"{nobodys.SOPInstanceUID}.dcm", enforce_file_format=True)
    Outbox(spool, ["a"]).recover()  # as the agent does when it starts
    assert main(["outbox", "status", "--config", str(config), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["orphans"] == [nobodys.SOPInstanceUID]
    assert main(["outbox", "status", "--config", str(config)]) == 0
    assert "orphans: 1 file(s) nobody queued" in capsys.readouterr().out

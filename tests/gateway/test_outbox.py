"""The outbox spool: durable, idempotent by SOP Instance UID, crash-safe, private."""

from __future__ import annotations

import io
import os
import random
import stat
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from panelgate.gateway import (
    DuplicateInstance,
    InvalidInstance,
    OutboxError,
    OutboxFull,
    UnknownDestination,
)
from panelgate.gateway.outbox import Outbox, RetryPolicy, State


def _bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_enqueue_writes_private_file_and_one_pending_record_per_destination(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset]
) -> None:
    outbox = Outbox(tmp_path / "spool", ["pacs", "archive"])
    ds = dx(1)
    records = outbox.enqueue_dataset(ds)
    assert [r.destination for r in records] == ["pacs", "archive"]
    assert all(
        r.state is State.PENDING and r.sop_instance_uid == ds.SOPInstanceUID for r in records
    )
    obj = outbox.object_path(ds.SOPInstanceUID)
    assert pydicom.dcmread(obj).SOPInstanceUID == ds.SOPInstanceUID
    for path in [obj, *outbox.root.rglob("*.json")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in [outbox.root, *(p for p in outbox.root.rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert outbox.counts()["pacs"]["pending"] == 1


def test_same_uid_same_bytes_is_idempotent_different_bytes_is_refused(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset]
) -> None:
    outbox = Outbox(tmp_path, ["pacs"])
    ds = dx(2)
    first = outbox.enqueue_dataset(ds)
    again = outbox.enqueue_bytes(_bytes(ds))
    assert again == first and len(outbox.records()) == 1
    original = outbox.object_path(ds.SOPInstanceUID).read_bytes()

    other = dx(3)
    other.SOPInstanceUID = ds.SOPInstanceUID
    other.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    with pytest.raises(DuplicateInstance, match="different content"):
        outbox.enqueue_dataset(other)
    assert outbox.object_path(ds.SOPInstanceUID).read_bytes() == original

    # Still refused after delivery, when the file itself has been released.
    (record,) = outbox.records()
    outbox.move(outbox.move(record, State.INFLIGHT), State.SENT)
    (record,) = outbox.records()
    outbox.move(record, State.COMMITTED)
    assert outbox.release_expired(0.0, {"pacs": State.COMMITTED}) == [ds.SOPInstanceUID]
    with pytest.raises(DuplicateInstance):
        outbox.enqueue_dataset(other)


def test_not_dicom_and_unknown_destination_are_clear_errors(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset]
) -> None:
    outbox = Outbox(tmp_path, ["pacs"])
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    with pytest.raises(InvalidInstance, match=r"junk\.dcm: not a readable DICOM Part-10 file"):
        outbox.enqueue_file(junk)
    with pytest.raises(UnknownDestination, match="unknown destination nowhere"):
        outbox.enqueue_dataset(dx(1), ["nowhere"])
    assert outbox.records() == []


def test_disk_reserve_refuses_new_instances_and_keeps_what_is_spooled(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset]
) -> None:
    Outbox(tmp_path, ["pacs"]).enqueue_dataset(dx(1))
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    full = Outbox(tmp_path, ["pacs"], reserve_bytes=free)
    with pytest.raises(OutboxFull, match="new exposures are refused"):
        full.check_space(1)
    with pytest.raises(OutboxFull, match="nothing already spooled was dropped"):
        full.enqueue_dataset(dx(2))
    assert len(full.records()) == 1
    assert len(list((tmp_path / "objects").glob("*.dcm"))) == 1
    # An image already acquired (its exposure was allowed) may use the reserve: kept.
    full.enqueue_dataset(dx(3), acquired=True)
    assert len(full.records()) == 2


def test_destinations_keep_their_own_state(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset]
) -> None:
    outbox = Outbox(tmp_path, ["a", "b"])
    outbox.enqueue_dataset(dx(1))
    (a,) = outbox.records("a")
    outbox.move(outbox.move(a, State.INFLIGHT), State.FAILED, reason="0xC000 (cannot understand)")
    assert outbox.counts() == {
        "a": {"pending": 0, "inflight": 0, "sent": 0, "committed": 0, "failed": 1},
        "b": {"pending": 1, "inflight": 0, "sent": 0, "committed": 0, "failed": 0},
    }
    assert outbox.records("a", State.FAILED)[0].reason == "0xC000 (cannot understand)"
    assert [r.destination for r in outbox.retry("a")] == ["a"]
    assert outbox.records("a")[0].state is State.PENDING


def test_commitment_result_commits_and_requeues_failed_instances(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset]
) -> None:
    outbox = Outbox(tmp_path, ["pacs"])
    uids = [outbox.enqueue_dataset(dx(i))[0].sop_instance_uid for i in range(3)]
    for record in outbox.records():
        sent = outbox.move(outbox.move(record, State.INFLIGHT), State.SENT)
        outbox.move(sent, State.SENT, transaction_uid="1.2.3", commit_requested_at=1.0)
    changed = outbox.apply_commitment("1.2.3", [uids[0], uids[1]], {uids[2]: "0x0112 (gone)"})
    assert len(changed) == 3
    by_uid = {r.sop_instance_uid: r for r in outbox.records()}
    assert by_uid[uids[0]].state is State.COMMITTED
    assert by_uid[uids[2]].state is State.PENDING
    assert by_uid[uids[2]].reason == "commitment failed: 0x0112 (gone)"
    # A late, repeated report changes nothing.
    assert outbox.apply_commitment("1.2.3", uids, {}) == []


def test_purge_removes_finished_records_and_their_files(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset]
) -> None:
    outbox = Outbox(tmp_path, ["pacs"])
    (record,) = outbox.enqueue_dataset(dx(1))
    with pytest.raises(OutboxError, match="only committed or failed"):
        outbox.purge(State.PENDING)
    outbox.move(outbox.move(record, State.INFLIGHT), State.FAILED, reason="x")
    assert outbox.purge(State.FAILED) == 1
    assert outbox.records() == [] and not outbox.object_path(record.sop_instance_uid).exists()


def test_retention_keeps_files_until_every_destination_is_final(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset]
) -> None:
    outbox = Outbox(tmp_path, ["committing", "plain"])
    outbox.enqueue_dataset(dx(1))
    for record in outbox.records():
        outbox.move(outbox.move(record, State.INFLIGHT), State.SENT)
    final = {"committing": State.COMMITTED, "plain": State.SENT}
    assert outbox.release_expired(0.0, final) == []  # "committing" is not committed yet
    (sent,) = outbox.records("committing")
    outbox.move(sent, State.COMMITTED)
    assert outbox.release_expired(3600.0, final) == []  # retention not over
    assert len(outbox.release_expired(0.0, final)) == 1


class _Crash(BaseException):
    """Stands for SIGKILL: nothing after the crash point runs."""


@pytest.mark.parametrize("seed", range(12))
def test_crash_at_any_file_operation_loses_nothing(
    tmp_path: Path, dx: Callable[..., pydicom.Dataset], monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Crash after the n-th replace/unlink of a random workload, restart, recover, finish."""
    rng = random.Random(seed)
    datasets = [dx(i) for i in range(4)]
    crash_at = rng.randrange(1, 40)
    calls = 0
    real_replace, real_unlink = os.replace, Path.unlink

    def counting_replace(src: str, dst: str) -> None:
        nonlocal calls
        calls += 1
        if calls == crash_at:
            raise _Crash
        real_replace(src, dst)

    def counting_unlink(self: Path, missing_ok: bool = False) -> None:
        nonlocal calls
        calls += 1
        if calls == crash_at:
            raise _Crash
        real_unlink(self, missing_ok=missing_ok)

    acknowledged: set[str] = set()
    monkeypatch.setattr(os, "replace", counting_replace)
    monkeypatch.setattr(Path, "unlink", counting_unlink)
    try:
        outbox = Outbox(tmp_path, ["a", "b"])
        for ds in datasets:
            outbox.enqueue_dataset(ds)
            acknowledged.add(ds.SOPInstanceUID)
            for record in outbox.records(state=State.PENDING):
                step = outbox.move(record, State.INFLIGHT)
                if rng.random() < 0.5:
                    outbox.move(step, State.SENT)
                else:
                    outbox.move(step, State.PENDING, attempts=1, reason="0xA700")
    except _Crash:
        pass
    monkeypatch.undo()

    restarted = Outbox(tmp_path, ["a", "b"])
    restarted.recover()
    records = restarted.records()
    for name in ("a", "b"):
        uids = [r.sop_instance_uid for r in records if r.destination == name]
        assert len(uids) == len(set(uids)), "an instance is in two states"
        assert acknowledged <= set(uids), "an acknowledged instance was lost"
    assert all(r.state is not State.INFLIGHT for r in records)
    for record in records:
        data = restarted.object_path(record.sop_instance_uid).read_bytes()
        assert pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID == record.sop_instance_uid
    assert not list(tmp_path.rglob(".tmp-*"))
    # Queuing everything again after the restart is harmless (idempotent).
    for ds in datasets:
        restarted.enqueue_dataset(ds)
    assert len(restarted.records()) == 2 * len(datasets)


def test_retry_policy_backs_off_exponentially_with_jitter_and_gives_up() -> None:
    policy = RetryPolicy(initial_s=1.0, max_s=8.0, multiplier=2.0, max_attempts=5)
    rng = random.Random(7)
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [policy.delay_s(attempt, rng) for _ in range(200)]
        assert all(base / 2 <= d <= base for d in delays)
        assert len(set(delays)) > 100  # jittered
    assert not policy.gives_up(4) and policy.gives_up(5)
    assert not RetryPolicy(max_attempts=0).gives_up(10**6)
    with pytest.raises(ValueError, match="multiplier must be >= 1"):
        RetryPolicy(multiplier=0.5)
    with pytest.raises(ValueError, match="max_s must be >= initial_s"):
        RetryPolicy(initial_s=2.0, max_s=1.0)

"""The durable spool: instances on disk and their state per destination.

Layout under the outbox root (directories 0700, files 0600)::

    intents/<SOPInstanceUID>.json                the destinations asked for, while queuing
    objects/<SOPInstanceUID>.dcm                 the Part-10 file, written once
    destinations/<name>/<state>/<SOPInstanceUID>.json   one record per destination
    orphans/<SOPInstanceUID>.dcm                 files that nobody queued (set aside, not sent)
    lock                                         serialises changes across processes

An instance is acknowledged to the caller only after its intent, its file and its records
are written and fsynced, in that order (:mod:`.intent`). A state change writes the record
(higher generation) into the new state's folder and then removes the old one;
:meth:`Outbox.recover` resolves what a crash between the two leaves behind, returns
interrupted sends to ``pending``, finishes interrupted queuing for the destinations that
were asked for (and no other) and sets aside files that no intent or record explains. The
same SOP Instance UID is accepted again only with identical bytes (idempotent); different
content raises :class:`~panelgate.gateway.errors.DuplicateInstance`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from panelgate.drivers.fsio import fsync_dir, private_dir, write_bytes_atomic
from panelgate.gateway.dicom.inspect import inspect_part10
from panelgate.gateway.errors import (
    DuplicateInstance,
    OutboxError,
    OutboxFull,
    UnknownDestination,
)

from .intent import clear_intent, read_intents, write_intent
from .record import Record, State

__all__ = ["Outbox"]

_log = logging.getLogger(__name__)


class Outbox:
    """A crash-safe store-and-forward spool for several destinations.

    Parameters
    ----------
    root : pathlib.Path
        Spool directory; created 0700 when missing.
    destinations : sequence of str
        Names of the destinations every new instance is queued for.
    reserve_bytes : int
        Free space that must remain on the spool's file system after a new instance is
        written; below it new instances are refused (:class:`OutboxFull`).
    clock : callable
        Returns the UNIX time in seconds (injectable for tests).
    """

    def __init__(
        self,
        root: Path,
        destinations: Sequence[str],
        *,
        reserve_bytes: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not destinations:
            raise ValueError("an outbox needs at least one destination")
        bad = [d for d in destinations if not d or "/" in d or d.startswith(".")]
        if bad:
            raise ValueError(f"destination names must be plain file names, got {bad}")
        if reserve_bytes < 0:
            raise ValueError(f"reserve_bytes must be >= 0, got {reserve_bytes}")
        self.root = Path(root)
        self.destinations = tuple(destinations)
        self.reserve_bytes = reserve_bytes
        self._clock = clock
        self._thread_lock = threading.RLock()
        self._depth = 0
        try:
            private_dir(self.root)
            private_dir(self.root / "objects")
            private_dir(self.root / "intents")
            for name in self.destinations:
                for state in State:
                    private_dir(self._state_dir(name, state))
            (self.root / "lock").touch(mode=0o600, exist_ok=True)
        except OSError as exc:
            raise OutboxError(f"cannot create the outbox at {self.root}: {exc}") from exc

    # -- queuing -----------------------------------------------------------------------

    def enqueue_dataset(
        self, ds: Dataset, destinations: Sequence[str] | None = None, *, acquired: bool = False
    ) -> list[Record]:
        """Spool a dataset (with ``file_meta``) for delivery; see :meth:`enqueue_bytes`."""
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return self.enqueue_bytes(buffer.getvalue(), destinations, acquired=acquired)

    def enqueue_file(self, path: Path, destinations: Sequence[str] | None = None) -> list[Record]:
        """Spool a copy of a Part-10 file for delivery; see :meth:`enqueue_bytes`.

        The file comes from outside: it is parsed completely and its Pixel Data checked
        (:func:`~panelgate.gateway.dicom.inspect.inspect_part10`) before anything is written,
        so that a truncated or undecodable file never enters the queue.

        Raises
        ------
        InvalidInstance
            The file is not a whole, decodable DICOM instance; the message names the defect.
        OutboxError
            The file cannot be read; see also :meth:`enqueue_bytes`.
        """
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise OutboxError(f"cannot read {path}: {exc.strerror or exc}") from exc
        inspect_part10(data, str(path))
        return self.enqueue_bytes(data, destinations, source=str(path))

    def enqueue_bytes(
        self,
        data: bytes,
        destinations: Sequence[str] | None = None,
        *,
        source: str = "instance",
        acquired: bool = False,
    ) -> list[Record]:
        """Spool a Part-10 file's bytes; return its record for each destination.

        The call returns only after the file and its records are fsynced. Queuing the same
        bytes again is a no-op that returns the existing records. An ``acquired`` image
        (the patient was exposed for it, after :meth:`check_space` allowed the exposure)
        may use the reserve: that is what the reserve is kept for.

        Raises
        ------
        OutboxError
            Not a DICOM Part-10 file with SOP Class and Instance UIDs in its meta header.
        DuplicateInstance
            The SOP Instance UID is already spooled with different content.
        OutboxFull
            Writing it would leave less free space than the reserve (not ``acquired``).
        UnknownDestination
            A destination name the outbox does not know.
        """
        targets = self._check_destinations(destinations)
        sop_class, uid, syntax = _identify(data, source)
        digest = hashlib.sha256(data).hexdigest()
        with self._locked():
            existing = self._records_of(uid)
            for record in existing.values():
                if record.sha256 != digest:
                    raise DuplicateInstance(
                        f"{source}: SOP Instance UID {uid} is already in the outbox with "
                        f"different content (for {record.destination}, {record.state.value}); "
                        "refusing to send two different instances under one UID"
                    )
            obj = self.object_path(uid)
            wanted = [name for name in targets if name not in existing]
            if wanted:  # durable before the file: a crash never queues it for anyone else
                write_intent(self._intents, uid, wanted)
            if not (obj.exists() and _sha256_file(obj) == digest):
                if not acquired:
                    self._check_space(len(data))
                write_bytes_atomic(obj, data)
            records = []
            now = self._clock()
            for name in targets:
                if name in existing:
                    records.append(existing[name])
                    continue
                record = Record(
                    sop_instance_uid=uid,
                    sop_class_uid=sop_class,
                    transfer_syntax=syntax,
                    sha256=digest,
                    size=len(data),
                    destination=name,
                    generation=1,
                    enqueued_at=now,
                    updated_at=now,
                    next_attempt_at=now,
                )
                write_bytes_atomic(self._record_path(record), record.to_json())
                records.append(record)
            clear_intent(self._intents, uid)
            _log.info("queued instance %s for %s", uid, ", ".join(targets))
            return records

    def check_space(self, needed_bytes: int) -> None:
        """Raise :class:`OutboxFull` unless ``needed_bytes`` fit above the reserve.

        The acquisition side calls this before an exposure, so that a patient is not
        irradiated for an image that cannot be kept.
        """
        self._check_space(needed_bytes)

    # -- state changes -----------------------------------------------------------------

    def move(self, record: Record, state: State, *, durable: bool = True, **changes: Any) -> Record:
        """Persist ``record`` in ``state`` with ``changes``; return the new record.

        The move is atomic. With ``durable`` it is also fsynced, so that it survives a power
        loss; without, only a killed process (for a state whose loss is harmless: a send
        marked in flight is recovered as pending, which is where it was).

        Raises
        ------
        OutboxError
            The record is no longer where ``record`` says (changed by someone else).
        """
        with self._locked():
            old_path = self._record_path(record)
            try:
                current = Record.from_json(old_path.read_bytes())
            except (FileNotFoundError, ValueError):
                current = None
            if current is None or current.generation != record.generation:
                raise OutboxError(
                    f"instance {record.sop_instance_uid} for {record.destination} changed "
                    f"meanwhile (no longer {record.state.value} as read)"
                )
            new = record.evolve(state=state, updated_at=self._clock(), **changes)
            new_path = self._record_path(new)
            write_bytes_atomic(new_path, new.to_json(), sync=durable)
            if new_path != old_path:
                old_path.unlink()
                if durable:
                    fsync_dir(old_path.parent)
            return new

    def recover(self) -> dict[str, int]:
        """Repair what a crash left behind; call once at start-up before any worker runs.

        Returns
        -------
        dict
            Counts: ``duplicates`` removed, ``interrupted`` sends returned to pending,
            ``resumed`` interrupted queuings finished (:meth:`finish_interrupted`),
            ``orphans`` set aside, ``temporaries`` removed.
        """
        counts = {"duplicates": 0, "interrupted": 0, "resumed": 0, "orphans": 0, "temporaries": 0}
        with self._locked():
            for tmp in self.root.rglob(".tmp-*"):
                tmp.unlink(missing_ok=True)
                counts["temporaries"] += 1
            known: set[str] = set()
            for name in self.destinations:
                best: dict[str, Record] = {}
                for record in self._scan(name, None):
                    current = best.get(record.sop_instance_uid)
                    if current is None or record.generation > current.generation:
                        if current is not None:
                            self._record_path(current).unlink(missing_ok=True)
                            counts["duplicates"] += 1
                        best[record.sop_instance_uid] = record
                    else:
                        self._record_path(record).unlink(missing_ok=True)
                        counts["duplicates"] += 1
                for record in best.values():
                    known.add(record.sop_instance_uid)
                    if record.state is State.INFLIGHT:
                        self.move(record, State.PENDING, reason="interrupted: agent stopped")
                        counts["interrupted"] += 1
            counts["resumed"] = self.finish_interrupted()
            for obj in sorted((self.root / "objects").glob("*.dcm")):
                if obj.stem not in known and not self._records_of(obj.stem):
                    self._set_aside(obj)
                    counts["orphans"] += 1
        if any(counts.values()):
            _log.warning("outbox recovery: %s", counts)
        return counts

    def finish_interrupted(self) -> int:
        """Finish queuing that a killed process left half done; return how many.

        Each unfinished intent (:mod:`.intent`) whose file was written gets its missing
        records, for the destinations it names and no other; one whose file was not
        written is dropped (its caller was never told that it was queued). Under the
        outbox lock every intent is stale (queuing takes the lock from intent to records),
        so this is safe while workers run.
        """
        finished = 0
        with self._locked():
            for uid, names in read_intents(self._intents).items():
                obj = self.object_path(uid)
                known = [n for n in names if n in self.destinations]
                if set(known) != set(names):
                    _log.warning(
                        "instance %s was being queued for %s, no longer configured",
                        uid,
                        ", ".join(sorted(set(names) - set(known))),
                    )
                if obj.exists() and known:
                    try:
                        self.enqueue_bytes(obj.read_bytes(), known, source=str(obj), acquired=True)
                    except OutboxError as exc:  # a file the spool itself cannot read
                        _log.error("cannot finish queuing %s: %s", uid, exc)
                        continue
                    _log.warning("finished queuing instance %s for %s", uid, ", ".join(known))
                    finished += 1
                clear_intent(self._intents, uid)
        return finished

    def apply_commitment(
        self, transaction_uid: str, committed: Sequence[str], failed: Mapping[str, str]
    ) -> list[Record]:
        """Record a Storage Commitment result (PS3.4 J.3.3.1.2).

        Committed instances move to ``committed``; failed ones go back to ``pending`` to be
        sent again, with the failure reason. Instances not waiting for this transaction
        are ignored (a late or repeated report).

        Returns
        -------
        list of Record
            The records changed.
        """
        changed = []
        with self._locked():
            for name in self.destinations:
                for record in self._scan(name, State.SENT):
                    if record.transaction_uid != transaction_uid:
                        continue
                    uid = record.sop_instance_uid
                    if uid in committed:
                        changed.append(self.move(record, State.COMMITTED, reason=""))
                    elif uid in failed:
                        changed.append(
                            self.move(
                                record,
                                State.PENDING,
                                reason=f"commitment failed: {failed[uid]}",
                                transaction_uid="",
                                commit_requested_at=0.0,
                                next_attempt_at=self._clock(),
                            )
                        )
        return changed

    def retry(self, destination: str | None = None) -> list[Record]:
        """Return every failed instance (of one destination, or all) to ``pending``."""
        names = self._check_destinations([destination] if destination else None)
        with self._locked():
            return [
                self.move(r, State.PENDING, attempts=0, next_attempt_at=self._clock())
                for name in names
                for r in self._scan(name, State.FAILED)
            ]

    def purge(self, state: State, destination: str | None = None) -> int:
        """Forget instances in ``state`` (committed or failed); delete unreferenced files.

        Returns
        -------
        int
            Records removed.

        Raises
        ------
        OutboxError
            ``state`` is not committed or failed (instances still on their way).
        """
        if state not in (State.COMMITTED, State.FAILED):
            raise OutboxError(f"only committed or failed instances can be purged, not {state}")
        names = self._check_destinations([destination] if destination else None)
        removed = 0
        with self._locked():
            for name in names:
                for record in self._scan(name, state):
                    self._record_path(record).unlink()
                    removed += 1
                    if not self._records_of(record.sop_instance_uid):
                        self.object_path(record.sop_instance_uid).unlink(missing_ok=True)
        return removed

    def release_expired(self, retention_s: float, final: Mapping[str, State]) -> list[str]:
        """Delete spooled files that every destination holds for longer than ``retention_s``.

        Parameters
        ----------
        retention_s : float
            How long a file is kept after its last destination reached its final state.
        final : mapping
            Final state per destination: ``COMMITTED`` with Storage Commitment, else ``SENT``.
            The records stay, so that a re-sent identical file is recognised.

        Returns
        -------
        list of str
            SOP Instance UIDs whose files were deleted.
        """
        released = []
        now = self._clock()
        with self._locked():
            for obj in sorted((self.root / "objects").glob("*.dcm")):
                records = self._records_of(obj.stem)
                done = len(records) == len(self.destinations) and all(
                    r.state in (final.get(r.destination, State.COMMITTED), State.COMMITTED)
                    and now - r.updated_at >= retention_s
                    for r in records.values()
                )
                if done:
                    obj.unlink()
                    released.append(obj.stem)
            if released:
                fsync_dir(self.root / "objects")
        return released

    # -- queries -----------------------------------------------------------------------

    def records(self, destination: str | None = None, state: State | None = None) -> list[Record]:
        """List the records of one destination (or all) in one state (or all), oldest first."""
        names = self._check_destinations([destination] if destination else None)
        found = [r for name in names for r in self._scan(name, state)]
        return sorted(found, key=lambda r: (r.enqueued_at, r.sop_instance_uid, r.destination))

    def due(self, destination: str, limit: int = 0) -> list[Record]:
        """Pending records of ``destination`` whose backoff has elapsed, oldest first."""
        now = self._clock()
        due = [r for r in self.records(destination, State.PENDING) if r.next_attempt_at <= now]
        return due[:limit] if limit > 0 else due

    def object_path(self, sop_instance_uid: str) -> Path:
        """Where the spooled file of an instance is (it may have been released)."""
        return self.root / "objects" / f"{sop_instance_uid}.dcm"

    def orphans(self) -> list[Path]:
        """Files set aside because nobody queued them (see :meth:`recover`); never sent."""
        folder = self.root / "orphans"
        return sorted(folder.glob("*.dcm")) if folder.is_dir() else []

    def counts(self) -> dict[str, dict[str, int]]:
        """Count the records per destination and state."""
        return {
            name: {state.value: len(self._scan(name, state)) for state in State}
            for name in self.destinations
        }

    # -- internals ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # The thread lock is re-entrant; the file lock (across processes) is taken once.
        with self._thread_lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0
            finally:
                os.close(fd)

    def _check_destinations(self, names: Sequence[str] | None) -> tuple[str, ...]:
        if names is None:
            return self.destinations
        unknown = [n for n in names if n not in self.destinations]
        if unknown:
            raise UnknownDestination(
                f"unknown destination {', '.join(unknown)} (known: {', '.join(self.destinations)})"
            )
        return tuple(names)

    def _check_space(self, needed: int) -> None:
        free = shutil.disk_usage(self.root).free
        if free - needed < self.reserve_bytes:
            raise OutboxFull(
                f"outbox {self.root} is full: {free / 1e6:.0f} MB free, an instance needs "
                f"{needed / 1e6:.1f} MB and {self.reserve_bytes / 1e6:.0f} MB must stay free; "
                "new exposures are refused until instances are delivered or space is freed "
                "(nothing already spooled was dropped)"
            )

    @property
    def _intents(self) -> Path:
        return self.root / "intents"

    def _set_aside(self, obj: Path) -> None:
        """Move a file nobody queued to ``orphans/``: reported, never sent."""
        orphans = private_dir(self.root / "orphans")
        os.replace(obj, orphans / obj.name)
        fsync_dir(orphans)
        _log.warning(
            "outbox: %s was queued for no destination (interrupted before its intent was "
            "recorded); set aside in %s, not sent",
            obj.stem,
            orphans,
        )

    def _state_dir(self, destination: str, state: State) -> Path:
        return self.root / "destinations" / destination / state.value

    def _record_path(self, record: Record) -> Path:
        return self._state_dir(record.destination, record.state) / (
            f"{record.sop_instance_uid}.json"
        )

    def _scan(self, destination: str, state: State | None) -> list[Record]:
        states = [state] if state is not None else list(State)
        found = []
        for st in states:
            for path in self._state_dir(destination, st).glob("*.json"):
                try:
                    record = Record.from_json(path.read_bytes())
                except FileNotFoundError:  # moved by another process meanwhile
                    continue
                except ValueError:
                    _log.error("ignoring unreadable outbox record %s", path)
                    continue
                found.append(record)
        return found

    def _records_of(self, uid: str) -> dict[str, Record]:
        found: dict[str, Record] = {}
        for name in self.destinations:
            for state in State:
                path = self._state_dir(name, state) / f"{uid}.json"
                try:
                    record = Record.from_json(path.read_bytes())
                except (FileNotFoundError, ValueError):
                    continue
                if name not in found or record.generation > found[name].generation:
                    found[name] = record
        return found


def _identify(data: bytes, source: str) -> tuple[str, str, str]:
    try:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
        meta = ds.file_meta
        return (
            str(meta.MediaStorageSOPClassUID),
            str(meta.MediaStorageSOPInstanceUID),
            str(meta.TransferSyntaxUID),
        )
    except (InvalidDicomError, AttributeError, ValueError, EOFError) as exc:
        raise OutboxError(
            f"{source} is not a DICOM Part-10 file with SOP Class and Instance UIDs ({exc})"
        ) from exc


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

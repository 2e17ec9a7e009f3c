"""One delivery worker per destination: C-STORE what is due, ask for commitment, back off.

A worker owns one :class:`~panelgate.gateway.pacs.session.StoreSession` (one association,
reused across instances, PS3.7 one outstanding request). Every reply is classified
(:func:`~panelgate.gateway.pacs.status.classify`): success and warning move the instance to
``sent``; retry (no status, abort, timeout, ``0xA7xx``) returns it to ``pending`` with
exponential backoff and jitter; failure sends it to ``failed`` with the reason. An instance
that costs the association (the peer aborts on it) charges only itself: the association is
opened again for the instances behind it in the same round, and the poison instance waits
out its backoff until the policy dead-letters it. Dead-lettering and overdue commitment
results are logged at WARNING with the destination and the SOP Instance UID. With Storage
Commitment on, sent instances are batched into N-ACTIONs whose Transaction UID is persisted
in their records before the request goes out, and re-requested when no result arrives.

A DICOMweb destination (:class:`~panelgate.gateway.dicomweb.WebDestination`) gets the same
bookkeeping through a :class:`~panelgate.gateway.dicomweb.WebSession` instead: the due
instances go out in STOW-RS requests of at most ``max_parts`` instances, each instance's
outcome is settled as a C-STORE's would be, a request that failed as a whole charges its
instances and backs the destination off, and with ``commitment`` a QIDO-RS query stands in
for the N-ACTION: a sent instance the server lists as sent is committed, one it holds with
other values (or still lacks after ``commit_timeout_s``) is sent again.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydicom.uid import generate_uid

from panelgate.gateway.dicomweb import AnyDestination, WebDestination, WebSession
from panelgate.gateway.errors import DeliveryError, DicomWebError, OutboxError
from panelgate.gateway.pacs.audit import MINOR_FAILURE, SERIOUS_FAILURE, SUCCESS, AuditTrail
from panelgate.gateway.pacs.session import StoreSession
from panelgate.gateway.pacs.status import Outcome

from .policy import RetryPolicy
from .record import Record, State
from .spool import Outbox

__all__ = ["DestinationWorker"]

_log = logging.getLogger(__name__)


class DestinationWorker:
    """Delivers the outbox's instances to one destination, in a thread or step by step.

    Parameters
    ----------
    outbox : Outbox
        The spool.
    name : str
        Destination name in the outbox.
    destination : Destination or WebDestination
        The peer: DIMSE (C-STORE) or DICOMweb (STOW-RS).
    policy : RetryPolicy
        Backoff and give-up rule.
    commit_timeout_s : float
        Ask again for commitment when no result came within this many seconds.
    batch : int
        Instances taken per round (and per N-ACTION).
    poll_s : float
        Longest sleep between looks at the spool (other processes may queue instances).
    idle_close_s : float
        Release the association after this long without work.
    rng : random.Random, optional
        Source of the backoff jitter.
    audit : AuditTrail, optional
        Where transfers are recorded.
    on_event_report : callable, optional
        Handler for commitment results arriving on our own association.
    """

    def __init__(
        self,
        outbox: Outbox,
        name: str,
        destination: AnyDestination,
        policy: RetryPolicy,
        *,
        commit_timeout_s: float = 60.0,
        batch: int = 32,
        poll_s: float = 0.5,
        idle_close_s: float = 5.0,
        rng: random.Random | None = None,
        audit: AuditTrail | None = None,
        on_event_report: Callable[[Any], Any] | None = None,
    ) -> None:
        self.outbox = outbox
        self.name = name
        self.destination = destination
        self.policy = policy
        self.commit_timeout_s = commit_timeout_s
        self.batch = batch
        self.poll_s = poll_s
        self.idle_close_s = idle_close_s
        self._rng = rng or random.Random()
        self._audit = audit or AuditTrail(None)
        self._web: WebSession | None = None  # the sender, by the destination's kind
        self._dimse: StoreSession | None = None
        if isinstance(destination, WebDestination):
            self._web = WebSession(destination)
        else:
            self._dimse = StoreSession(destination, on_event_report)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_work = time.monotonic()
        self._refusals = 0  # association failures in a row
        self._blocked_until = 0.0  # no new association before this time.time()

    # -- thread control ----------------------------------------------------------------

    def start(self) -> DestinationWorker:
        """Run :meth:`run_once` in a background thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name=f"outbox-{self.name}", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look at the spool now (called after queuing)."""
        self._wake.set()

    def stop(self, timeout_s: float | None = None) -> None:
        """Finish the instance under way, then stop and release the association."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._web is not None:
            self._web.close()
        else:
            self._session.close()

    @property
    def _session(self) -> StoreSession:
        """The association of a DIMSE destination."""
        if self._dimse is None:
            raise TypeError(f"{self.name} is a DICOMweb destination: it has no association")
        return self._dimse

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except OutboxError as exc:  # e.g. a record changed by `outbox purge` meanwhile
                _log.warning("outbox worker %s: %s", self.name, exc)
                worked = 0
            except Exception:  # keep delivering; the next round retries
                _log.exception("outbox worker %s failed a round", self.name)
                worked = 0
            if worked == 0:
                self._wake.wait(self.poll_s)
                self._wake.clear()

    # -- one round ---------------------------------------------------------------------

    def run_once(self) -> int:
        """Send what is due and request commitment; return the number of actions taken."""
        if self._web is not None:
            done = self._send_web(self._web) + self._confirm_web(self._web)
            if done:
                self._last_work = time.monotonic()
            return done
        done = self._send_due() + self._request_commitment()
        if done:
            self._last_work = time.monotonic()
        elif self._session.is_open and time.monotonic() - self._last_work > self.idle_close_s:
            self._session.close()
        return done

    def _send_due(self) -> int:
        if not self._session.is_open and time.time() < self._blocked_until:
            return 0  # the destination itself is backing off
        due = self.outbox.due(self.name, self.batch)
        if not due:
            return 0
        try:
            self._session.ensure(_needs(due))
        except DeliveryError as exc:
            self._back_off(exc)
            for record in due:
                self._attempt_failed(record, str(exc), retryable=exc.retryable)
            uids = [r.sop_instance_uid for r in due]
            self._audit_transfer(uids, SERIOUS_FAILURE, str(exc), due)
            return 0
        self._refusals = 0
        t0 = time.monotonic()
        sent, problems = self._send_batch(due)
        if sent:
            self._audit_transfer(sent, SUCCESS, "stored", due, time.monotonic() - t0)
        if problems:
            self._audit_transfer(problems, MINOR_FAILURE, "not stored", due)
        return len(sent) + len(problems)

    def _send_batch(self, due: list[Record]) -> tuple[list[str], list[str]]:
        """C-STORE ``due`` in order on the open association; return (sent, problem) UIDs.

        While the peer stores instance i (its data set is on the wire), the worker settles
        instance i - 1 and marks instance i + 1 in flight, so that the peer never idles on
        our bookkeeping between two C-STOREs.
        """
        rnd = _Round(due, marked={0: self._mark(due[0])})
        settle: Callable[[], None] | None = None  # the previous instance's bookkeeping
        try:
            for i in range(len(due)):
                settle = self._send_one(rnd, i, settle)
                if settle is _STOPPED:
                    settle = None
                    break
        finally:
            # Whatever happened, nothing marked here stays in flight.
            try:
                if settle is not None:
                    settle()
            finally:
                for leftover in rnd.marked.values():
                    if leftover is not None:
                        self._unmark(leftover)
        return rnd.sent, rnd.problems

    def _send_one(
        self, rnd: _Round, i: int, settle: Callable[[], None] | None
    ) -> Callable[[], None] | None:
        """C-STORE ``rnd.due[i]``; return its bookkeeping, or ``_STOPPED`` to end the round.

        ``settle`` is the previous instance's bookkeeping, run while this one is stored.
        """
        due, marked = rnd.due, rnd.marked
        record = due[i]
        inflight = marked.pop(i)
        if self._stop.is_set() or not self._connected(due[i:]):
            if settle is not None:
                settle()
            if inflight is not None:  # marked but not sent: as it was
                self._unmark(inflight)
            return _STOPPED
        following = due[i + 1] if i + 1 < len(due) else None
        meanwhile = functools.partial(self._between, settle, marked, i + 1, following)
        path = self.outbox.object_path(record.sop_instance_uid)
        if inflight is None or not path.exists():
            meanwhile()
            if inflight is not None:
                self._give_up(inflight, "spooled file is missing")
            return None
        outcome, text = self._session.send(
            path, record.sop_class_uid, record.transfer_syntax, meanwhile=meanwhile
        )
        _log.info("C-STORE %s to %s: %s", record.sop_instance_uid, self.name, text)
        return functools.partial(self._settle, inflight, outcome, text, rnd.sent, rnd.problems)

    def _connected(self, rest: list[Record]) -> bool:
        """Have an association for ``rest``: reopen one that the previous instance cost.

        When none can be had, the destination backs off and ``rest`` stays pending
        without an attempt charged (none was made).
        """
        if self._session.is_open:
            return True
        try:
            self._session.ensure(_needs(rest))
        except DeliveryError as exc:
            self._back_off(exc)
            return False
        return True

    def _back_off(self, exc: DeliveryError) -> None:
        """Back off the destination as a whole after an association failed.

        A PACS that is down is not asked again for each instance that becomes due. A
        DICOMweb server's ``Retry-After`` lengthens the wait (up to the policy's ``max_s``).
        """
        self._refusals += 1
        delay_s = self.policy.delay_s(self._refusals, self._rng)
        if isinstance(exc, DicomWebError) and exc.retry_after_s is not None:
            delay_s = max(delay_s, min(exc.retry_after_s, self.policy.max_s))
        self._blocked_until = time.time() + delay_s
        _log.warning("cannot deliver to %s: %s", self.name, exc)

    def _between(
        self,
        previous: Callable[[], None] | None,
        marked: dict[int, Record | None],
        index: int,
        following: Record | None,
    ) -> None:
        """Settle the previous instance and mark the following one in flight."""
        if previous is not None:
            previous()
        if following is not None:
            marked[index] = self._mark(following)

    def _mark(self, record: Record) -> Record | None:
        """Move ``record`` to in flight; None when it changed meanwhile (purged, retried).

        Not fsynced, nor is the move to sent: after a power cut, a lost mark leaves the
        instance pending (recovery makes an in-flight one pending anyway) and it is sent
        again, the same bytes under the same SOP Instance UID, which the PACS keeps once.
        Enqueueing, commitment and the deletion they allow stay durable. An fsync here
        would also wait for every other dirty page of the file system (ext4
        data=ordered), e.g. a local PACS's.
        """
        return self._move(record, State.INFLIGHT, durable=False)

    def _unmark(self, inflight: Record) -> None:
        self._move(inflight, State.PENDING, durable=False)

    def _give_up(self, inflight: Record, reason: str) -> None:
        if self._move(inflight, State.FAILED, reason=reason) is not None:
            self._dead_lettered(inflight, reason)

    def _dead_lettered(self, record: Record, reason: str) -> None:
        # The destination and the SOP Instance UID identify it; no patient data.
        _log.warning(
            "dead-lettered instance %s for %s: %s", record.sop_instance_uid, self.name, reason
        )

    def _move(self, record: Record, state: State, **changes: Any) -> Record | None:
        """:meth:`Outbox.move`, or None (logged) when the record changed meanwhile."""
        try:
            return self.outbox.move(record, state, **changes)
        except OutboxError as exc:  # e.g. purged by `panelgate outbox purge` meanwhile
            _log.warning("outbox worker %s: %s", self.name, exc)
            return None

    def _settle(
        self,
        inflight: Record,
        outcome: Outcome,
        text: str,
        sent: list[str],
        problems: list[str],
    ) -> None:
        """Record the outcome of one C-STORE (and count it into ``sent`` or ``problems``)."""
        uid = inflight.sop_instance_uid
        if outcome in (Outcome.SUCCESS, Outcome.WARNING):
            reason = text if outcome is Outcome.WARNING else ""
            changes = {"reason": reason, "transaction_uid": ""}
            if self._move(inflight, State.SENT, durable=False, **changes) is not None:
                sent.append(uid)
            return
        try:
            self._attempt_failed(inflight, text, retryable=outcome is Outcome.RETRY)
        except OutboxError as exc:  # e.g. purged by `panelgate outbox purge` meanwhile
            _log.warning("outbox worker %s: %s", self.name, exc)
            return
        problems.append(uid)

    def _request_commitment(self) -> int:
        if not self.destination.commitment:
            return 0
        now = time.time()
        waiting = [
            r
            for r in self.outbox.records(self.name, State.SENT)
            if not r.transaction_uid or now - r.commit_requested_at > self.commit_timeout_s
        ][: self.batch]
        if not waiting:
            return 0
        for record in waiting:
            if record.transaction_uid:
                _log.warning(
                    "no storage commitment result from %s for instance %s within %g s "
                    "(transaction %s): asking again",
                    self.name,
                    record.sop_instance_uid,
                    self.commit_timeout_s,
                    record.transaction_uid,
                )
        transaction_uid = generate_uid()
        for record in waiting:  # persisted before the request: a report can always be matched
            self.outbox.move(
                record, State.SENT, transaction_uid=transaction_uid, commit_requested_at=now
            )
        refs = [(r.sop_class_uid, r.sop_instance_uid) for r in waiting]
        try:
            self._session.request_commitment(transaction_uid, refs)
        except DeliveryError as exc:
            _log.warning("storage commitment request to %s failed: %s", self.name, exc)
            return 0
        _log.info(
            "asked %s to commit %d instances (transaction %s)",
            self.name,
            len(refs),
            transaction_uid,
        )
        return len(refs)

    # -- DICOMweb ----------------------------------------------------------------------

    def _send_web(self, web: WebSession) -> int:
        """STOW-RS what is due, ``max_parts`` instances a request; settle each instance.

        A request that fails as a whole and may succeed later (no reply, 5xx, 409 naming no
        instance) charges its instances, backs the destination off and ends the round
        (audited as a serious failure, like a refused association); the instances behind
        it stay pending without a charge.
        """
        if time.time() < self._blocked_until:
            return 0  # the destination itself is backing off
        due = self.outbox.due(self.name, self.batch)
        rnd = _Round(due, marked={})
        t0 = time.monotonic()
        for start in range(0, len(due), web.max_parts):
            if self._stop.is_set() or not self._stow(web, due[start : start + web.max_parts], rnd):
                break
        if rnd.sent:
            self._audit_transfer(rnd.sent, SUCCESS, "stored", due, time.monotonic() - t0)
        if rnd.problems:
            self._audit_transfer(rnd.problems, MINOR_FAILURE, "not stored", due)
        return len(rnd.sent) + len(rnd.problems)

    def _stow(self, web: WebSession, chunk: list[Record], rnd: _Round) -> bool:
        """Send ``chunk`` in one STOW-RS request; False when the round should end."""
        marked = [m for m in map(self._mark, chunk) if m is not None]
        present = []
        for inflight in marked:
            if self.outbox.object_path(inflight.sop_instance_uid).exists():
                present.append(inflight)
            else:
                self._give_up(inflight, "spooled file is missing")
        return self._stow_marked(web, present, rnd) if present else True

    def _stow_marked(self, web: WebSession, present: list[Record], rnd: _Round) -> bool:
        """STOW-RS the in-flight ``present``; False when the server is to be left alone.

        A request of several instances refused as a whole for good (400, 404, ...) is sent
        again one instance a request, so that a poison instance charges only itself.
        """
        items = [(r.sop_instance_uid, self.outbox.object_path(r.sop_instance_uid)) for r in present]
        try:
            results = web.store(items)
        except DeliveryError as exc:
            if not exc.retryable and len(present) > 1:
                return self._stow_one_by_one(web, present, rnd, exc)
            if exc.retryable:
                self._back_off(exc)
            for inflight in present:
                self._attempt_failed(inflight, str(exc), retryable=exc.retryable)
            uids = [r.sop_instance_uid for r in present]
            self._audit_transfer(uids, SERIOUS_FAILURE, str(exc), present)
            return not exc.retryable
        self._refusals = 0
        for inflight in present:
            outcome, text = results[inflight.sop_instance_uid]
            _log.info("STOW-RS %s to %s: %s", inflight.sop_instance_uid, self.name, text)
            self._settle(inflight, outcome, text, rnd.sent, rnd.problems)
        return True

    def _stow_one_by_one(
        self, web: WebSession, present: list[Record], rnd: _Round, exc: DeliveryError
    ) -> bool:
        _log.warning(
            "%s refused %d instances as a whole (%s): sending them one by one",
            self.name,
            len(present),
            exc,
        )
        for i, inflight in enumerate(present):
            if not self._stow_marked(web, [inflight], rnd):
                for rest in present[i + 1 :]:  # as they were: pending, not charged
                    self._unmark(rest)
                return False
        return True

    def _confirm_web(self, web: WebSession) -> int:
        """Commit the sent instances a QIDO-RS query finds as sent; resend the others.

        Each instance is asked about at most once per ``poll_s``. Found: committed. Held
        with other values, or not found ``commit_timeout_s`` after the first query: back
        to pending (the outbox's commitment path, with the reason). Returns the number of
        records changed.
        """
        if not self.destination.commitment:
            return 0
        now = time.time()
        waiting = [
            r
            for r in self.outbox.records(self.name, State.SENT)
            if not r.transaction_uid or now - r.updated_at >= self.poll_s
        ][: self.batch]
        if not waiting:
            return 0
        query_uid = generate_uid()  # matches the records of this query in apply_commitment
        asked = [
            self.outbox.move(
                r,
                State.SENT,
                durable=False,
                transaction_uid=query_uid,
                commit_requested_at=r.commit_requested_at or now,
            )
            for r in waiting
        ]
        items = [(r.sop_instance_uid, self.outbox.object_path(r.sop_instance_uid)) for r in asked]
        try:
            found = web.confirm(items)
        except DeliveryError as exc:
            _log.warning("QIDO-RS confirmation at %s failed: %s", self.name, exc)
            return 0
        failed = dict(found.mismatched)
        for r in asked:
            overdue = now - r.commit_requested_at > self.commit_timeout_s
            if r.sop_instance_uid in found.missing and overdue:
                failed[r.sop_instance_uid] = (
                    f"not found by QIDO-RS {self.commit_timeout_s:g} s after it was stored"
                )
        changed = self.outbox.apply_commitment(query_uid, found.found, failed)
        for uid, reason in failed.items():
            _log.warning("%s does not hold instance %s as sent: %s", self.name, uid, reason)
        return len(changed)

    def _attempt_failed(self, record: Record, reason: str, *, retryable: bool) -> None:
        attempts = record.attempts + 1
        if not retryable or self.policy.gives_up(attempts):
            if retryable:
                reason = f"gave up after {attempts} attempts: {reason}"
            self.outbox.move(record, State.FAILED, attempts=attempts, reason=reason)
            self._dead_lettered(record, reason)
        else:
            delay = self.policy.delay_s(attempts, self._rng)
            self.outbox.move(
                record,
                State.PENDING,
                attempts=attempts,
                reason=reason,
                next_attempt_at=time.time() + delay,
            )

    def _audit_transfer(
        self,
        uids: list[str],
        outcome: int,
        detail: str,
        records: list[Record],
        elapsed_s: float | None = None,
    ) -> None:
        """Audit a transfer; ``elapsed_s`` is how long the round that stored them took."""
        timing = {} if elapsed_s is None else {"elapsed_s": round(elapsed_s, 4)}
        sop_class = {r.sop_instance_uid: r.sop_class_uid for r in records}
        size = {r.sop_instance_uid: r.size for r in records}
        self._audit.record(
            "instances-transferred",
            outcome=outcome,
            local_ae=self.destination.calling_ae,
            remote_ae=self.destination.called_ae,
            remote_host=self.destination.host,
            instances=uids,
            detail=detail,
            destination=self.name,
            sop_classes={uid: sop_class.get(uid, "") for uid in uids},
            bytes=sum(size.get(uid, 0) for uid in uids),
            **timing,
        )


@dataclass
class _Round:
    """One round of C-STOREs: the instances due, those marked in flight ahead, the results."""

    due: list[Record]
    marked: dict[int, Record | None]
    sent: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _stopped() -> None:
    """Mark the end of a round (see :meth:`DestinationWorker._send_one`)."""


_STOPPED: Callable[[], None] = _stopped


def _needs(records: list[Record]) -> set[tuple[str, str]]:
    """Return the (SOP class, transfer syntax) pairs an association needs for ``records``."""
    return {(r.sop_class_uid, r.transfer_syntax) for r in records}

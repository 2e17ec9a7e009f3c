"""One reusable association to a destination: C-STORE (PS3.4 B) and commitment N-ACTION (J).

A session proposes, for every SOP class it must send, one presentation context per
transfer syntax in use that is not uncompressed little endian (compressed, big endian) plus
one per uncompressed little-endian syntax, so that the peer can refuse the former and still
accept the instance. When the peer accepted only the little-endian syntaxes for a file, the
session converts the file itself (:mod:`~panelgate.gateway.dicom.transcode`: decompression
or byte order, lossless, same SOP Instance UID; pynetdicom does not transcode) or, when that
is impossible, fails that one instance with the reason. A file sent in its own transfer syntax
is streamed from the spool by :class:`FileStreamer` (without copies; pynetdicom over TLS).
The association stays open across instances and is reopened when it is lost or needs
contexts it was not opened with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydicom.uid import UID, ExplicitVRLittleEndian
from pynetdicom import _config as pynetdicom_config
from pynetdicom import evt
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import StorageCommitmentPushModel  # type: ignore[attr-defined]

from panelgate.gateway.dicom.transcode import (
    UNCOMPRESSED_LITTLE_ENDIAN,
    lossless_target,
    to_little_endian,
)
from panelgate.gateway.errors import DeliveryError, InvalidInstance

from .association import open_association
from .commit import STORAGE_COMMITMENT_INSTANCE, commitment_request
from .destination import Destination
from .filestream import FileStreamer
from .status import Outcome, classify, describe

__all__ = ["StoreSession"]

_log = logging.getLogger(__name__)

_UNCOMPRESSED = UNCOMPRESSED_LITTLE_ENDIAN


class _Once:
    """Call a function at most once; log what it raises instead of raising it."""

    def __init__(self, fn: Callable[[], None] | None) -> None:
        self._fn = fn

    def __call__(self) -> None:
        fn, self._fn = self._fn, None
        if fn is not None:
            try:
                fn()
            except Exception:
                _log.exception("bookkeeping during a C-STORE failed")


class StoreSession:
    """An association to one destination, opened on demand and reused.

    Parameters
    ----------
    destination : Destination
        The peer, its timeouts, TLS and whether it commits.
    on_event_report : callable, optional
        Handler for an N-EVENT-REPORT arriving on this association (a PACS may send the
        commitment result there instead of on a new association); pynetdicom event handler
        signature, returns a status.
    """

    def __init__(
        self, destination: Destination, on_event_report: Callable[[Any], Any] | None = None
    ) -> None:
        self.destination = destination
        self._on_event_report = on_event_report
        self._assoc: Any = None
        self._streamer: FileStreamer | None = None
        self._proposed: set[tuple[str, str]] = set()
        # A file given by path is sent from its data set's offset as it is, not decoded
        # and re-encoded by pydicom (slower, and not the bytes that were spooled).
        pynetdicom_config.STORE_SEND_CHUNKED_DATASET = True

    @property
    def is_open(self) -> bool:
        """True while the association is established."""
        return self._assoc is not None and bool(self._assoc.is_established)

    def ensure(self, needs: Iterable[tuple[str, str]]) -> None:
        """Have an association that covers ``needs`` (pairs of SOP class and transfer syntax).

        Raises
        ------
        DeliveryError
            No association (peer down, rejected, aborted); ``retryable`` says whether to retry.
        """
        needed = set(needs)
        if self.is_open and needed <= self._proposed:
            return
        self.close()
        self._open(needed | self._proposed)

    def send(
        self,
        path: Path,
        sop_class: str,
        transfer_syntax: str,
        meanwhile: Callable[[], None] | None = None,
    ) -> tuple[Outcome, str]:
        """C-STORE one Part-10 file; return the classified outcome and the status text.

        The association must cover ``(sop_class, transfer_syntax)`` (see :meth:`ensure`).
        A lost association is :attr:`Outcome.RETRY`, never success. This call never
        raises: a file that cannot be converted to what the peer accepts, or any other
        failure to send it, is :attr:`Outcome.FAIL` with the reason.

        ``meanwhile`` runs exactly once during the call: when the file is streamed, once
        its data set is on the wire and the peer is storing it (the caller's bookkeeping
        of the previous instance then costs the peer no idle time); otherwise before the
        C-STORE. Its exceptions are logged, not raised.
        """
        once = _Once(meanwhile)
        try:
            return self._send(Path(path), sop_class, transfer_syntax, once)
        except Exception as exc:  # one instance must never stop the worker
            _log.exception("C-STORE of %s to %s failed", Path(path).stem, self.destination)
            self.close()
            return Outcome.FAIL, f"cannot send: {type(exc).__name__}: {exc}"
        finally:
            once()

    def _send(
        self, path: Path, sop_class: str, transfer_syntax: str, meanwhile: _Once
    ) -> tuple[Outcome, str]:
        if not self.is_open:
            return Outcome.RETRY, "association lost"
        accepted = self._accepted_syntaxes(sop_class)
        target = lossless_target(accepted)
        try:
            if transfer_syntax in accepted:
                status = self._store_file(path, meanwhile)
            elif target is not None:
                try:
                    ds = to_little_endian(path)  # pynetdicom takes it to Implicit VR LE too
                except InvalidInstance as exc:
                    return Outcome.FAIL, (
                        f"{self.destination} does not accept {UID(transfer_syntax).name} and "
                        f"the instance cannot be converted to {target.name}: {exc}"
                    )
                _log.info(
                    "%s does not accept %s: sending %s as %s",
                    self.destination,
                    UID(transfer_syntax).name,
                    path.stem,
                    target.name,
                )
                meanwhile()
                status = self._assoc.send_c_store(ds)
            else:
                return Outcome.FAIL, (
                    f"{self.destination} accepted no presentation context for SOP class "
                    f"{sop_class} in {UID(transfer_syntax).name} or uncompressed little endian"
                )
        except (RuntimeError, ConnectionError) as exc:
            self.close()
            return Outcome.RETRY, f"association lost during the C-STORE ({exc})"
        outcome = classify(status)
        if not status or not self._assoc.is_established:
            # No reply (timeout, abort, invalid reply): the association's state is unknown
            # (or it is gone). Release or abort it now, so that the next instance gets a
            # fresh one instead of inheriting the loss.
            self.close()
        return outcome, describe(status)

    def request_commitment(
        self, transaction_uid: str, instances: Sequence[tuple[str, str]]
    ) -> None:
        """Send the Storage Commitment N-ACTION (PS3.4 J.3.2); the result comes later.

        Raises
        ------
        DeliveryError
            No association, or the peer did not acknowledge the request with success.
        """
        self.ensure({(StorageCommitmentPushModel, ExplicitVRLittleEndian)})
        try:
            status, _reply = self._assoc.send_n_action(
                commitment_request(transaction_uid, instances),
                1,
                StorageCommitmentPushModel,
                STORAGE_COMMITMENT_INSTANCE,
            )
        except (RuntimeError, ValueError) as exc:
            self.close()
            raise DeliveryError(
                f"{self.destination}: storage commitment request failed: {exc}", retryable=True
            ) from exc
        outcome = classify(status)
        if outcome not in (Outcome.SUCCESS, Outcome.WARNING):
            raise DeliveryError(
                f"{self.destination} did not accept the storage commitment request: "
                f"{describe(status)}",
                retryable=outcome is Outcome.RETRY,
            )

    def close(self) -> None:
        """Release the association (abort it when the release fails)."""
        assoc, self._assoc, self._streamer = self._assoc, None, None
        self._proposed = set()
        if assoc is not None and assoc.is_established:
            assoc.release()
            if assoc.is_established:
                assoc.abort()

    def __enter__(self) -> StoreSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _store_file(self, path: Path, meanwhile: _Once) -> Any:
        if self._streamer is None:
            meanwhile()
            return self._assoc.send_c_store(path)
        with self._streamer.armed(path, meanwhile):
            return self._assoc.send_c_store(path)

    def _accepted_syntaxes(self, sop_class: str) -> set[str]:
        return {
            str(cx.transfer_syntax[0])
            for cx in self._assoc.accepted_contexts
            if cx.abstract_syntax == sop_class
        }

    def _open(self, needed: set[tuple[str, str]]) -> None:
        dest = self.destination
        if dest.commitment:
            needed = needed | {(StorageCommitmentPushModel, ExplicitVRLittleEndian)}
        by_class: dict[str, set[str]] = {}
        for sop_class, syntax in needed:
            by_class.setdefault(sop_class, set()).add(syntax)
        contexts: list[Any] = []
        for sop_class, syntaxes in sorted(by_class.items()):
            # One syntax per context: the peer then accepts or refuses each one, and an
            # exact match lets pynetdicom stream the file as it is.
            compressed = sorted(s for s in syntaxes if s not in _UNCOMPRESSED)
            contexts.extend(build_context(sop_class, [s]) for s in [*compressed, *_UNCOMPRESSED])
        if len(contexts) > 128:
            raise DeliveryError(
                f"{dest}: {len(contexts)} presentation contexts needed, 128 at most",
                retryable=False,
            )
        handlers: list[Any] = []
        if self._on_event_report is not None:
            handlers.append((evt.EVT_N_EVENT_REPORT, self._on_event_report))
        assoc = open_association(dest, contexts, handlers)
        self._assoc = assoc
        self._streamer = FileStreamer(assoc, stall_s=dest.dimse_s)
        self._proposed = set(needed)
        _log.info("association to %s established (%d contexts)", dest, len(contexts))

"""C-STORE SCU: send Part-10 files to a destination and classify every reply (PS3.4 Annex B)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from panelgate.gateway.errors import DeliveryError

from .destination import Destination
from .session import StoreSession
from .status import Outcome

__all__ = ["StoreResult", "store_files"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreResult:
    """The outcome of storing one file."""

    path: Path
    sop_instance_uid: str
    outcome: Outcome
    status: str


def store_files(paths: Sequence[Path], destination: Destination) -> list[StoreResult]:
    """Send DICOM files to ``destination`` over one association.

    Parameters
    ----------
    paths : sequence of pathlib.Path
        Part-10 files; each is proposed in its own transfer syntax plus the two
        uncompressed little-endian ones, and decompressed here when the peer accepts only
        uncompressed (the same :class:`StoreSession` the outbox workers use).
    destination : Destination
        The peer and its timeouts.

    Returns
    -------
    list of StoreResult
        One per file, in order, each with its classified outcome. A file the peer
        refused is reported, not raised: the caller decides what to do with it.

    Raises
    ------
    DeliveryError
        A file cannot be read, or no association could be made (peer unreachable,
        association rejected or aborted). ``retryable`` tells whether to try again.
    """
    if not paths:
        return []
    headers = [_read_header(Path(p)) for p in paths]
    results: list[StoreResult] = []
    with StoreSession(destination) as session:
        session.ensure((sop_class, syntax) for sop_class, _uid, syntax in headers)
        for path, (sop_class, sop_uid, syntax) in zip(paths, headers, strict=True):
            outcome, status = session.send(Path(path), sop_class, syntax)
            _log.info("C-STORE %s to %s: %s", sop_uid, destination, status)
            results.append(StoreResult(Path(path), sop_uid, outcome, status))
    return results


def _read_header(path: Path) -> tuple[str, str, str]:
    try:
        ds = dcmread(path, stop_before_pixels=True)
        meta = ds.file_meta
        return (
            str(meta.MediaStorageSOPClassUID),
            str(meta.MediaStorageSOPInstanceUID),
            str(meta.TransferSyntaxUID),
        )
    except (OSError, InvalidDicomError, AttributeError) as exc:
        raise DeliveryError(
            f"cannot send {path}: not a readable DICOM Part-10 file ({exc})", retryable=False
        ) from exc

"""C-STORE SCU: send Part-10 files to a destination and classify every reply (PS3.4 Annex B)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.presentation import build_context

from panelgate.gateway.errors import DeliveryError

from .association import open_association
from .destination import Destination
from .status import Outcome, classify, describe

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
        uncompressed little-endian ones.
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
    contexts: dict[str, set[str]] = {}
    for sop_class, _uid, syntax in headers:
        contexts.setdefault(sop_class, {ExplicitVRLittleEndian, ImplicitVRLittleEndian}).add(syntax)
    assoc = open_association(
        destination, [build_context(c, sorted(s)) for c, s in contexts.items()]
    )
    results: list[StoreResult] = []
    try:
        for path, (_cls, sop_uid, _ts) in zip(paths, headers, strict=True):
            try:
                status = assoc.send_c_store(Path(path))
            except RuntimeError:  # the association went away under us
                results.append(StoreResult(Path(path), sop_uid, Outcome.RETRY, "association lost"))
                continue
            except ValueError as exc:  # the peer accepted no context for this file
                results.append(StoreResult(Path(path), sop_uid, Outcome.FAIL, str(exc)))
                continue
            outcome = classify(status)
            _log.info("C-STORE %s to %s: %s", sop_uid, destination, describe(status))
            results.append(StoreResult(Path(path), sop_uid, outcome, describe(status)))
    finally:
        if assoc.is_established:
            assoc.release()
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

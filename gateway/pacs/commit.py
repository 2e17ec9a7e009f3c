"""Storage Commitment Push Model (PS3.4 Annex J): the N-ACTION request and its result.

The SCU asks the PACS, with N-ACTION (Action Type ID 1) on the well-known instance
``1.2.840.10008.1.20.1.1``, to commit a list of instances under a Transaction UID that the
caller persists first. The N-ACTION reply only acknowledges the request; the result comes
later in an N-EVENT-REPORT (Event Type ID 1: all committed; 2: failures exist), possibly
on a new association the PACS opens to our listener (J.3.3.1.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID

__all__ = [
    "STORAGE_COMMITMENT_INSTANCE",
    "CommitmentResult",
    "commitment_request",
    "parse_commitment_report",
]

STORAGE_COMMITMENT_INSTANCE = UID("1.2.840.10008.1.20.1.1")
"""The well-known SOP Instance of the Storage Commitment Push Model (PS3.4 J.3.5)."""

_FAILURE_REASONS = {
    0x0110: "processing failure",
    0x0112: "no such object instance",
    0x0213: "resource limitation",
    0x0122: "referenced SOP class not supported",
    0x0119: "class / instance conflict",
    0x0131: "duplicate transaction UID",
}


@dataclass(frozen=True)
class CommitmentResult:
    """What an N-EVENT-REPORT of the Storage Commitment Push Model said.

    Parameters
    ----------
    transaction_uid : str
        Transaction UID (0008,1195) of the request it answers.
    committed : tuple of str
        SOP Instance UIDs in the Referenced SOP Sequence (0008,1199).
    failed : dict
        SOP Instance UID -> failure reason text, from the Failed SOP Sequence (0008,1198).
    """

    transaction_uid: str
    committed: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)


def commitment_request(transaction_uid: str, instances: Sequence[tuple[str, str]]) -> Dataset:
    """Build the N-ACTION Action Information (PS3.4 J.3.2.1.1).

    Parameters
    ----------
    transaction_uid : str
        A UID unique to this request; persist it before sending.
    instances : sequence of (sop_class_uid, sop_instance_uid)
        What to commit.
    """
    ds = Dataset()
    ds.TransactionUID = transaction_uid
    items = []
    for sop_class, sop_instance in instances:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        items.append(item)
    ds.ReferencedSOPSequence = items
    return ds


def parse_commitment_report(event_type_id: int, info: Dataset) -> CommitmentResult:
    """Read the Event Information of an N-EVENT-REPORT (PS3.4 J.3.3.1.1).

    Raises
    ------
    ValueError
        Not a storage commitment result (wrong event type or no Transaction UID).
    """
    if event_type_id not in (1, 2):
        raise ValueError(f"storage commitment Event Type ID must be 1 or 2, got {event_type_id}")
    if "TransactionUID" not in info:
        raise ValueError("storage commitment report without Transaction UID")
    committed = tuple(
        str(item.ReferencedSOPInstanceUID) for item in info.get("ReferencedSOPSequence", [])
    )
    failed = {
        str(item.ReferencedSOPInstanceUID): _reason(item)
        for item in info.get("FailedSOPSequence", [])
    }
    return CommitmentResult(str(info.TransactionUID), committed, failed)


def _reason(item: Any) -> str:
    code = item.get("FailureReason")
    if code is None:
        return "no failure reason given"
    code = int(code)
    return f"0x{code:04X} ({_FAILURE_REASONS.get(code, 'unrecognised reason')})"

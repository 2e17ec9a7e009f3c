"""Reject analysis after AAPM TG-305: the reject reasons and the reject-analysis CSV.

AAPM Task Group 305 (Little et al., "Unified database for rejected image analysis across
multiple vendors in radiography", JACMP 24(5):e13938, 2023) proposes vendor-neutral data
elements for each rejected image and one list of reject reasons, so that reject rates
can be compared across rooms and vendors. A reject here names one of
:data:`TG305_REASONS` (the code) and may add the technician's free text, which stays in
the image's record and is never exported (free text may name a patient).

:func:`rejects_csv` writes one row per rejected image with the data elements of TG-305:
when, where (station), what (protocol, body part, view), why (reason), the exposure (EI,
EI_T, DI after IEC 62494-1; delivered kV and mAs), who (operator) and the repeat link.
No patient data: neither names, identifiers nor dates of birth appear in it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from typing import Any

from .exam import InvalidField
from .images import ImageEntry, Review

__all__ = ["CSV_COLUMNS", "TG305_REASONS", "parse_reject", "reject_counts", "rejects_csv"]

TG305_REASONS: dict[str, str] = {
    "positioning": "Positioning",
    "patient_motion": "Patient motion",
    "artefact": "Artefact",
    "exposure_error": "Exposure error (under- or overexposure)",
    "equipment": "Equipment failure",
    "test_image": "Test or QC image",
    "other": "Other",
}
"""The reject reasons of AAPM TG-305: code -> label."""

CSV_COLUMNS = (
    "rejected_utc", "station", "protocol", "body_part", "view", "reason", "reason_label",
    "ei", "target_ei", "di", "kv", "mas", "operator", "sop_instance_uid", "repeat_of",
    "made_utc",
)  # fmt: skip
"""The columns of the reject-analysis CSV (TG-305 data elements; no patient data)."""

_NOTE_MAX = 200
"""Longest free text of a reject, in characters."""


def parse_reject(body: Any) -> tuple[str, str]:
    """Check a ``POST /api/images/{uid}/reject`` body; return (reason code, note).

    Raises
    ------
    InvalidField
        No reason, or one not in :data:`TG305_REASONS`; a note that is not a short string.
    """
    if not isinstance(body, dict):
        raise InvalidField("body", "must be a JSON object with reason (AAPM TG-305)")
    unknown = sorted(set(body) - {"reason", "note"})
    if unknown:
        raise InvalidField(unknown[0], "unknown field (known: ['note', 'reason'])")
    reason, note = body.get("reason"), body.get("note", "")
    if reason not in TG305_REASONS:
        raise InvalidField(
            "reason",
            f"{reason!r} is no AAPM TG-305 reject reason: one of {', '.join(TG305_REASONS)}",
        )
    if not isinstance(note, str) or len(note) > _NOTE_MAX or "\n" in note:
        raise InvalidField("note", f"must be one line of at most {_NOTE_MAX} characters")
    return str(reason), note.strip()


def _utc(unix_s: float | None) -> str:
    if unix_s is None:
        return ""
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).isoformat(timespec="seconds")


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def rejects_csv(entries: Iterable[ImageEntry], station: str) -> str:
    """Return the reject-analysis CSV (RFC 4180, header row first) of the rejected images."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        if e.review != Review.REJECTED:
            continue
        writer.writerow((
            _utc(e.decided_unix_s), station, e.protocol, e.body_part, e.view, e.reason,
            TG305_REASONS.get(e.reason, ""), _number(e.ei), _number(e.target_ei),
            _number(e.di), _number(e.kv), _number(e.mas), e.operator, e.sop_instance_uid,
            e.repeat_of, _utc(e.made_unix_s),
        ))  # fmt: skip
    return out.getvalue()


def reject_counts(entries: Iterable[ImageEntry]) -> dict[str, Any]:
    """Count images made and rejected, and the rejects by reason (for the status)."""
    made = rejected = 0
    by_reason = dict.fromkeys(TG305_REASONS, 0)
    for e in entries:
        made += 1
        if e.review == Review.REJECTED:
            rejected += 1
            by_reason[e.reason] = by_reason.get(e.reason, 0) + 1
    return {"made": made, "rejected": rejected, "by_reason": by_reason}

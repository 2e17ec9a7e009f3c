"""Classifying DIMSE status codes (PS3.7 Annex C; C-STORE statuses of PS3.4 B.2.3).

Every reply from a peer is data and gets classified; an empty status, which pynetdicom
returns after a timeout, an abort or an invalid reply, is never taken for success.
"""

from __future__ import annotations

import enum

from pydicom.dataset import Dataset

__all__ = ["Outcome", "classify", "describe"]


class Outcome(enum.Enum):
    """What the sender should do after a DIMSE reply."""

    SUCCESS = "success"  #: stored
    WARNING = "warning"  #: stored, with a remark from the peer (e.g. coercion, PS3.4 B.2.3)
    RETRY = "retry"  #: not stored, may succeed later (no reply, out of resources, busy)
    FAIL = "fail"  #: not stored, will not succeed as it is (refused, wrong data): alert


_WARNINGS = {
    0xB000: "coercion of data elements",
    0xB006: "elements discarded",
    0xB007: "data set does not match SOP class",
}
_RETRY = {
    0x0110: "processing failure",
    0x0213: "resource limitation",
    0xFE00: "cancelled",
    0xA700: "out of resources",
}
_FAIL = {
    0x0122: "SOP class not supported",
    0x0124: "not authorized",
    0x0117: "invalid SOP instance",
    0x0111: "duplicate SOP instance",
}


def classify(status: Dataset | None) -> Outcome:
    """Return the :class:`Outcome` of a DIMSE response status dataset.

    Parameters
    ----------
    status : pydicom.dataset.Dataset or None
        The status dataset pynetdicom returned; empty or None when no reply came.

    Notes
    -----
    ``0x0000`` success; ``0xB000``, ``0xB006``, ``0xB007`` warning; ``0xA7xx`` (refused:
    out of resources), ``0x0110``, ``0x0213`` and ``0xFE00`` retry; ``0xA9xx`` (data set
    does not match SOP class), ``0xCxxx`` (cannot understand), ``0x0122``, ``0x0124`` and
    any other code fail.
    """
    code = _code(status)
    if code is None:
        return Outcome.RETRY
    if code == 0x0000:
        return Outcome.SUCCESS
    if code in _WARNINGS or (code & 0xF000) == 0xB000:
        return Outcome.WARNING
    if code in _RETRY or (code & 0xFF00) == 0xA700:
        return Outcome.RETRY
    return Outcome.FAIL


def describe(status: Dataset | None) -> str:
    """Describe a status in one line, e.g. ``0xA700 (out of resources)``."""
    code = _code(status)
    if code is None:
        return "no status (timeout, abort or invalid reply)"
    name = _WARNINGS.get(code) or _RETRY.get(code) or _FAIL.get(code)
    if name is None:
        if (code & 0xFF00) == 0xA700:
            name = "refused: out of resources"
        elif (code & 0xFF00) == 0xA900:
            name = "data set does not match SOP class"
        elif (code & 0xF000) == 0xC000:
            name = "cannot understand"
        else:
            name = "success" if code == 0 else "unrecognised status"
    text = f"0x{code:04X} ({name})"
    comment = getattr(status, "ErrorComment", None)
    return f"{text}: {comment}" if comment else text


def _code(status: Dataset | None) -> int | None:
    if status is None or "Status" not in status:
        return None
    return int(status.Status)

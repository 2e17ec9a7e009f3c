"""The intent journal: for which destinations an instance is being queued, durable first.

Queuing writes, in this order, each fsynced: ``intents/<SOPInstanceUID>.json`` naming the
destinations asked for, the spooled file, one record per destination, and then removes the
intent. A process killed at any point leaves enough to finish the job for the destinations
that were asked for, and for no other: recovery completes an intent whose file is whole
and drops one whose file never was (the caller was never told it was queued). A file with
neither records nor intent was queued by nobody this outbox knows of; it is set aside,
never sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from panelgate.drivers.fsio import write_bytes_atomic

__all__ = ["clear_intent", "read_intents", "write_intent"]

_log = logging.getLogger(__name__)


def write_intent(directory: Path, sop_instance_uid: str, destinations: Sequence[str]) -> None:
    """Durably record that ``sop_instance_uid`` is being queued for ``destinations``.

    Raises
    ------
    StorageError
        The journal cannot be written (disk full, read-only).
    """
    body = json.dumps({"destinations": sorted(destinations)}).encode()
    write_bytes_atomic(directory / f"{sop_instance_uid}.json", body)


def clear_intent(directory: Path, sop_instance_uid: str) -> None:
    """Forget the intent once the records are durable (not fsynced: a lost removal is redone)."""
    (directory / f"{sop_instance_uid}.json").unlink(missing_ok=True)


def read_intents(directory: Path) -> dict[str, tuple[str, ...]]:
    """Return the unfinished intents: destinations asked for, by SOP Instance UID.

    An unreadable intent file (it is written atomically, so only by tampering) is logged and
    skipped: its instance then counts as queued by nobody.
    """
    intents: dict[str, tuple[str, ...]] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            names = json.loads(path.read_bytes())["destinations"]
            intents[path.stem] = tuple(str(n) for n in names)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _log.error("ignoring unreadable outbox intent %s: %s", path, exc)
    return intents

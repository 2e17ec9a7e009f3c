"""The per-destination state of one spooled instance, persisted as a small JSON file.

A record lives in exactly one state folder of its destination (``pending/``,
``inflight/``, ``sent/``, ``committed/``, ``failed/``). Every change writes the new record
with a higher ``generation``; should a crash leave the same instance in two folders, the
higher generation wins at recovery.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["Record", "State"]


class State(enum.Enum):
    """Where an instance is on its way to one destination."""

    PENDING = "pending"  #: waiting to be sent (first time or retry after backoff)
    INFLIGHT = "inflight"  #: a C-STORE is under way
    SENT = "sent"  #: the PACS stored it (success or warning); commitment not yet confirmed
    COMMITTED = "committed"  #: the PACS took responsibility (PS3.4 J) or commitment is off
    FAILED = "failed"  #: dead letter: will not be sent again without ``outbox retry``


@dataclass(frozen=True)
class Record:
    """One instance bound for one destination.

    Parameters
    ----------
    sop_instance_uid, sop_class_uid : str
        Identity of the instance.
    transfer_syntax : str
        Transfer Syntax UID of the spooled file.
    sha256 : str
        Hash of the spooled Part-10 file; the same UID with another hash is refused.
    size : int
        File size in bytes.
    destination : str
        Destination name.
    state : State
        Current state.
    generation : int
        Incremented by every change.
    attempts : int
        Failed delivery attempts so far.
    enqueued_at, updated_at : float
        UNIX times (s) of queuing and of the last change.
    next_attempt_at : float
        UNIX time (s) before which a pending instance is not sent.
    reason : str
        Why the last attempt failed (status text); empty after success.
    transaction_uid : str
        Storage Commitment Transaction UID (0008,1195) once requested.
    commit_requested_at : float
        UNIX time (s) of the N-ACTION; 0 before.
    """

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax: str
    sha256: str
    size: int
    destination: str
    state: State = State.PENDING
    generation: int = 0
    attempts: int = 0
    enqueued_at: float = 0.0
    updated_at: float = 0.0
    next_attempt_at: float = 0.0
    reason: str = ""
    transaction_uid: str = ""
    commit_requested_at: float = 0.0

    def evolve(self, **changes: Any) -> Record:
        """Return a copy with ``changes`` applied and the generation incremented."""
        return replace(self, generation=self.generation + 1, **changes)

    def to_json(self) -> bytes:
        """Serialise to UTF-8 JSON."""
        data = asdict(self)
        data["state"] = self.state.value
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Record:
        """Parse what :meth:`to_json` wrote.

        Raises
        ------
        ValueError
            Not a record.
        """
        try:
            data = json.loads(raw)
            data["state"] = State(data["state"])
            return cls(**data)
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not an outbox record: {exc}") from exc

"""How the gateway's delivery stands: per destination, instances per state and the backlog's age.

What ``panelgate outbox status`` prints, read from the outbox itself (the directory is the
queue), so it answers whether or not an agent is running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from panelgate.gateway.outbox import Outbox, State

__all__ = ["DestinationStatus", "outbox_status"]


@dataclass(frozen=True)
class DestinationStatus:
    """The delivery state of one destination.

    Parameters
    ----------
    name : str
        The destination's name in the configuration.
    counts : dict of str to int
        Instances per state (every :class:`State`, zeros included).
    oldest_pending_age_s : float or None
        Seconds since the oldest instance still ``pending`` was queued; None when none is.
    """

    name: str
    counts: dict[str, int]
    oldest_pending_age_s: float | None

    def as_json(self) -> dict[str, Any]:
        """Return the JSON object of ``outbox status --json`` for this destination."""
        return {"counts": dict(self.counts), "oldest_pending_age_s": self.oldest_pending_age_s}

    def line(self) -> str:
        """Return one human line: counts of the non-empty states and the backlog's age."""
        counts = ", ".join(f"{n} {state}" for state, n in self.counts.items() if n)
        age = self.oldest_pending_age_s
        oldest = "" if age is None else f"; oldest pending queued {age:.1f} s ago"
        return f"{self.name}: {counts or 'empty'}{oldest}"


def outbox_status(outbox: Outbox, now_s: float) -> list[DestinationStatus]:
    """Return the status of each of the outbox's destinations, by name.

    Parameters
    ----------
    outbox : Outbox
        The open outbox.
    now_s : float
        The current UNIX time (s), on the clock the outbox stamps its records with.
    """
    counts = outbox.counts()
    found = []
    for name in sorted(counts):
        queued = [r.enqueued_at for r in outbox.records(name, State.PENDING)]
        age = max(0.0, now_s - min(queued)) if queued else None
        per_state = {state.value: int(counts[name].get(state.value, 0)) for state in State}
        found.append(DestinationStatus(name, per_state, age))
    return found

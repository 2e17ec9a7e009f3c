"""Delivering a queued instance now, once per destination, for one-shot commands.

``panelgate expose`` and ``panelgate demo`` queue their image in an outbox like the agent
does (fsynced, idempotent by SOP Instance UID) and then try each destination once, through
the same :class:`~panelgate.gateway.outbox.DestinationWorker` the agent runs. What is not
delivered stays queued, with its reason, for ``panelgate agent`` or ``panelgate outbox``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from panelgate.gateway.dicomweb import AnyDestination
from panelgate.gateway.outbox import DestinationWorker, Outbox, RetryPolicy, State
from panelgate.gateway.pacs import Destination

__all__ = ["Delivery", "deliver_now", "queue_name"]

_DELIVERED = (State.SENT, State.COMMITTED)


@dataclass(frozen=True)
class Delivery:
    """Where one instance stands for one destination after :func:`deliver_now`."""

    destination: str
    address: str
    state: State
    reason: str

    @property
    def delivered(self) -> bool:
        """True when the destination stored the instance."""
        return self.state in _DELIVERED


def queue_name(destination: Destination) -> str:
    """Name the outbox queue of an ad-hoc destination (``--pacs``) by its address.

    A later run to the same address then also sends what an earlier one left queued, and
    never sends it to another PACS.
    """
    raw = f"{destination.called_ae}@{destination.host}-{destination.port}"
    return "".join(c if c.isalnum() or c in "@-_." else "_" for c in raw).lstrip(".")


def deliver_now(
    outbox: Outbox, destinations: Mapping[str, AnyDestination], sop_instance_uid: str
) -> list[Delivery]:
    """Run one delivery round for each destination; report where the instance stands.

    Everything due for a destination is sent in its round, not only this instance (a
    queue left by an earlier run goes out too).

    Parameters
    ----------
    outbox : Outbox
        Holding the instance, queued for every name in ``destinations``.
    destinations : mapping of str to Destination or WebDestination
        Destination name (as in the outbox) to its address.
    sop_instance_uid : str
        The instance to report on.

    Returns
    -------
    list of Delivery
        One per destination, in the mapping's order.
    """
    report = []
    for name, destination in destinations.items():
        worker = DestinationWorker(outbox, name, destination, RetryPolicy())
        try:
            worker.run_once()
        finally:
            worker.stop()
        record = next(
            (r for r in outbox.records(name) if r.sop_instance_uid == sop_instance_uid), None
        )
        if record is None:  # released meanwhile: only after delivery and retention
            report.append(Delivery(name, str(destination), State.COMMITTED, ""))
        else:
            report.append(Delivery(name, str(destination), record.state, record.reason))
    return report

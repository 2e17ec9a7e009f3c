"""The durable store-and-forward outbox between acquisition and the PACS."""

from .policy import RetryPolicy
from .record import Record, State
from .spool import Outbox
from .worker import DestinationWorker

__all__ = ["DestinationWorker", "Outbox", "Record", "RetryPolicy", "State"]

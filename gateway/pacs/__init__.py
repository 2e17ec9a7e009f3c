"""PACS networking: C-STORE SCU with classified statuses, and the embedded Storage SCP."""

from .destination import Destination
from .scp import EmbeddedPacs
from .status import Outcome, classify, describe
from .store import StoreResult, store_files

__all__ = [
    "Destination",
    "EmbeddedPacs",
    "Outcome",
    "StoreResult",
    "classify",
    "describe",
    "store_files",
]

"""PACS networking: C-STORE, Storage Commitment and its listener, worklist, MPPS, TLS, audit."""

from .audit import AuditTrail
from .commit import CommitmentResult, commitment_request, parse_commitment_report
from .destination import Destination
from .listener import Listener
from .mpps import PerformedImage, mpps_finish, mpps_in_progress
from .scp import EmbeddedPacs
from .session import StoreSession
from .status import Outcome, classify, describe
from .store import StoreResult, store_files
from .tls import TlsConfig
from .worklist import WorklistQuery, query_worklist, worklist_identifier

__all__ = [
    "AuditTrail",
    "CommitmentResult",
    "Destination",
    "EmbeddedPacs",
    "Listener",
    "Outcome",
    "PerformedImage",
    "StoreResult",
    "StoreSession",
    "TlsConfig",
    "WorklistQuery",
    "classify",
    "commitment_request",
    "describe",
    "mpps_finish",
    "mpps_in_progress",
    "parse_commitment_report",
    "query_worklist",
    "store_files",
    "worklist_identifier",
]

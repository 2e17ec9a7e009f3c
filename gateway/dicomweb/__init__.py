"""DICOMweb delivery (PS3.18): STOW-RS store, QIDO-RS confirmation, over httpx.

The outbox worker (:class:`~panelgate.gateway.outbox.DestinationWorker`) delivers to a
:class:`WebDestination` through a :class:`WebSession` with the same durable semantics as
C-STORE: per-instance outcomes classified like DIMSE statuses, retries with the outbox's
backoff, and "committed" only once the server confirms it holds the instance.
"""

from .destination import AnyDestination, Credentials, WebDestination, is_loopback_host, url_problem
from .multipart import MultipartBody
from .qido import Confirmation, confirm
from .response import StowResponse, parse_stow_response
from .session import WebSession
from .stow import stow

__all__ = [
    "AnyDestination",
    "Confirmation",
    "Credentials",
    "MultipartBody",
    "StowResponse",
    "WebDestination",
    "WebSession",
    "confirm",
    "is_loopback_host",
    "parse_stow_response",
    "stow",
    "url_problem",
]

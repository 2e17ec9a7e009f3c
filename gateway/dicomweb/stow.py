"""STOW-RS: store instances with one POST each batch (PS3.18 10.5 Store Transaction).

``POST {url}/studies`` with a ``multipart/related; type="application/dicom"`` body of
Part-10 files streamed from the spool (:class:`~.multipart.MultipartBody`). The reply's
status decides how to read it (PS3.18 10.5.3): 200 all stored, 202 some stored or with
warnings, 409 none stored: then each instance is classified from the response
(:class:`~.response.StowResponse`). A reply that says nothing per instance (5xx, other
4xx) is an error for the whole request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import httpx

from panelgate.gateway.pacs.status import Outcome

from .destination import WebDestination
from .http import http_error, request
from .multipart import MultipartBody
from .response import StowResponse, parse_stow_response

__all__ = ["stow"]

_log = logging.getLogger(__name__)

_PER_INSTANCE = (200, 202, 409, 400)  # replies that may list instances (400: Orthanc)


def stow(
    client: httpx.Client, destination: WebDestination, items: Sequence[tuple[str, Path]]
) -> dict[str, tuple[Outcome, str]]:
    """Store ``items`` with one STOW-RS request; classify each instance.

    Parameters
    ----------
    client : httpx.Client
        From :func:`~.http.open_client` for ``destination``.
    destination : WebDestination
        The server.
    items : sequence of (str, pathlib.Path)
        SOP Instance UID and spooled Part-10 file of each instance (at most
        ``destination.max_parts``).

    Returns
    -------
    dict
        SOP Instance UID -> (Outcome, text), one for every item.

    Raises
    ------
    DicomWebError
        No reply, or a reply without anything per instance (5xx, 409 and 4xx naming no
        instance); ``retryable`` says whether to try again.
    DeliveryError
        A spooled file is missing or changed while it was sent (not retryable).
    """
    if not 0 < len(items) <= destination.max_parts:
        raise ValueError(f"1 to {destination.max_parts} instances per request, got {len(items)}")
    body = MultipartBody([p for _, p in items], destination.block_bytes)
    response = request(
        client,
        destination,
        "POST",
        f"{destination.url}/studies",
        content=body.chunks(),
        headers={
            "Content-Type": body.content_type,
            "Content-Length": str(body.content_length),
            "Accept": "application/dicom+json",
        },
    )
    uids = [uid for uid, _ in items]
    _log.info(
        "STOW-RS of %d instances (%d bytes) to %s: HTTP %d",
        len(uids),
        body.content_length,
        destination,
        response.status_code,
    )
    return _classify(destination, response, uids)


def _classify(
    destination: WebDestination, response: httpx.Response, uids: list[str]
) -> dict[str, tuple[Outcome, str]]:
    status = response.status_code
    if status not in _PER_INSTANCE:
        raise http_error(destination, response, "STOW-RS")
    try:
        parsed = parse_stow_response(response.headers.get("content-type", ""), response.content)
    except ValueError as exc:
        _log.warning("STOW-RS reply of %s (HTTP %d) unreadable: %s", destination, status, exc)
        parsed = StowResponse()
    if status != 200 and not set(uids) & (parsed.stored.keys() | parsed.failed.keys()):
        raise http_error(destination, response, "STOW-RS")  # nothing per instance
    _log.debug("STOW-RS retrieve URL at %s: %s", destination, parsed.retrieve_url or "none")
    results = {uid: parsed.outcome(uid) for uid in uids}
    if status != 200:  # 202/409/400: the status line goes with each reason
        results = {uid: (o, f"HTTP {status}: {text}") for uid, (o, text) in results.items()}
    return results

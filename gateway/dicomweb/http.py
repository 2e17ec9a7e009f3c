"""The one boundary between panelgate and HTTP: an httpx client, and its errors in our tree.

httpx (a maintained, typed HTTP/1.1 client with per-operation timeouts and TLS through
:mod:`ssl`) does the protocol. Its timeouts are idle timeouts (``read``: the longest wait
for the next bytes of a reply; ``write``: for the socket to take the next block), never a
deadline on a whole request, so a large study that keeps moving is not cut off. Every
httpx exception becomes a :class:`~panelgate.gateway.errors.DicomWebError` here, naming
the destination's URL; no header, and so no credential, is ever part of a message.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import ssl
from collections.abc import Generator
from typing import Any

import httpx

from panelgate.gateway.errors import DicomWebError, GatewayError

from .destination import Credentials, WebDestination

__all__ = ["http_error", "open_client", "request"]

_log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 409, 429, 401, 403})
"""4xx replies worth another try later (5xx always are). 401/403: credentials may be
renewed while the instances wait; the destination backs off and warns meanwhile."""


class _BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` (RFC 6750 2.1) on every request."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "_BearerAuth(token='***')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the header; httpx masks ``authorization`` values in its own reprs."""
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


def _auth(credentials: Credentials | None) -> httpx.Auth | None:
    if credentials is None:
        return None
    if credentials.scheme == "bearer":
        return _BearerAuth(credentials.secret)
    return httpx.BasicAuth(credentials.username, credentials.secret)


def open_client(destination: WebDestination) -> httpx.Client:
    """Return an httpx client for ``destination``: timeouts, TLS, authentication.

    The environment's proxy settings are not used (``trust_env=False``): images and
    credentials go to the configured URL only. Redirects are not followed.

    Raises
    ------
    DicomWebError
        The TLS files cannot be loaded (retryable: they may be fixed in place).
    """
    try:
        verify = destination.tls.client_context() if destination.tls else _system_context()
    except GatewayError as exc:
        raise DicomWebError(f"{destination}: {exc}", retryable=True) from exc
    timeout = httpx.Timeout(
        connect=destination.connect_s,
        read=destination.idle_s,
        write=destination.idle_s,
        pool=destination.connect_s,
    )
    return httpx.Client(
        timeout=timeout,
        verify=verify,
        auth=_auth(destination.credentials),
        trust_env=False,
        follow_redirects=False,
        headers={"User-Agent": "panelgate"},
    )


def _system_context() -> ssl.SSLContext:
    """TLS 1.2 or later, verified against the system's trust store (BCP 195)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def request(
    client: httpx.Client, destination: WebDestination, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """Send one request; translate what httpx raises.

    Raises
    ------
    DicomWebError
        No reply: no connection, TLS handshake refused, idle timeout, connection lost
        (all retryable), or a request httpx cannot make (not retryable).
    """
    try:
        return client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise DicomWebError(
            f"{destination}: no progress for {destination.idle_s:g} s "
            f"({type(exc).__name__}); will retry",
            retryable=True,
        ) from exc
    except httpx.ConnectError as exc:
        raise DicomWebError(
            f"cannot reach DICOMweb server {destination}: {_reason(exc)}", retryable=True
        ) from exc
    except httpx.TransportError as exc:
        raise DicomWebError(
            f"{destination}: connection lost ({_reason(exc)}); will retry", retryable=True
        ) from exc
    except httpx.HTTPError as exc:
        raise DicomWebError(f"{destination}: {_reason(exc)}", retryable=False) from exc


def http_error(destination: WebDestination, response: httpx.Response, what: str) -> DicomWebError:
    """Return the error for a reply that says nothing per instance (5xx, 4xx)."""
    status = response.status_code
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    hint = {401: " (credentials refused)", 403: " (not allowed)", 404: " (check the URL)"}
    return DicomWebError(
        f"{what} to {destination}: HTTP {status} {response.reason_phrase}"
        f"{hint.get(status, '')}" + ("; will retry" if retryable else ""),
        retryable=retryable,
        status_code=status,
        retry_after_s=_retry_after_s(response.headers.get("retry-after", "")),
    )


def _retry_after_s(value: str) -> float | None:
    """Seconds from a ``Retry-After`` value: delay-seconds or an HTTP date (RFC 9110 10.2.3)."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]

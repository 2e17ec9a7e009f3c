"""Where instances go over the web: a DICOMweb origin server (PS3.18) and its credentials."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from panelgate.gateway.pacs.destination import Destination
from panelgate.gateway.pacs.tls import TlsConfig

__all__ = ["AnyDestination", "Credentials", "WebDestination", "is_loopback_host", "url_problem"]


def is_loopback_host(host: str) -> bool:
    """Tell whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str, *, tls: bool) -> str | None:
    """Say what is wrong with a DICOMweb base URL, or return None.

    Parameters
    ----------
    url : str
        The service's base URL, e.g. ``http://127.0.0.1:8042/dicom-web``.
    tls : bool
        Whether a CA file was configured (it needs ``https``).

    Notes
    -----
    Refused: a scheme other than http or https; no host; user information, a query or a
    fragment (credentials and parameters never ride in a URL); a CA file with ``http``;
    and ``http`` to a host that is not loopback, which would carry images and credentials
    in clear text over the network (BCP 195: use TLS).
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"is not a valid URL ({exc}), got {url!r}"
    host = parts.hostname or ""
    clear = parts.scheme == "http"
    checks = [
        (parts.scheme not in ("http", "https"), f"must be http:// or https://, got {url!r}"),
        (not host, f"names no host, got {url!r}"),
        (parts.username is not None or parts.password is not None,
         "must not carry a user name or password (use auth and its keys)"),
        (bool(parts.query or parts.fragment), f"must not have a query or a fragment, got {url!r}"),
        (clear and tls, "is http:// but a CA file is configured: use https://"),
        (clear and bool(host) and not is_loopback_host(host),
         f"is http:// to {host!r}, which is not this machine: images and credentials would "
         "cross the network unencrypted; use https://"),
    ]  # fmt: skip
    return next((problem for failed, problem in checks if failed), None)


@dataclass(frozen=True)
class Credentials:
    """HTTP authentication for a DICOMweb destination; the secret never shows in ``repr``.

    Parameters
    ----------
    scheme : {"bearer", "basic"}
        ``Authorization: Bearer <token>`` (RFC 6750) or ``Basic`` (RFC 7617).
    secret : str
        The bearer token, or the basic password.
    username : str
        The basic user name; empty for bearer.
    """

    scheme: Literal["bearer", "basic"]
    secret: str = field(repr=False)
    username: str = ""

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError(f"{self.scheme} authentication needs a non-empty secret")
        if self.scheme == "basic" and (not self.username or ":" in self.username):
            raise ValueError("basic authentication needs a user name without ':' (RFC 7617)")

    def __repr__(self) -> str:
        who = f", username={self.username!r}" if self.username else ""
        return f"Credentials(scheme={self.scheme!r}{who}, secret='***')"


@dataclass(frozen=True)
class WebDestination:
    """A DICOMweb origin server that the outbox delivers to with STOW-RS (PS3.18 10.5).

    Parameters
    ----------
    url : str
        Base URL of the service (``{url}/studies`` takes STOW-RS and QIDO-RS); see
        :func:`url_problem` for what is refused.
    calling_ae : str
        Our AE title, for the audit trail only.
    tls : TlsConfig or None
        CA file (and an optional client certificate) for ``https``; None uses the
        system's trust store for ``https``.
    credentials : Credentials or None
        Authentication; None sends none.
    connect_s : float
        Timeout of the TCP (and TLS) connection, seconds.
    idle_s : float
        Longest wait for the server to take the next block of the request or to send the
        next bytes of its reply, seconds: an idle timeout, so a large study that keeps
        moving is never cut off by a deadline on the whole request.
    max_parts : int
        Instances per STOW-RS request; more instances go in several requests.
    commitment : bool
        An instance counts as committed only once a QIDO-RS query finds it (with the
        expected SOP class, rows, columns and frames); otherwise stored is final.
    block_bytes : int
        Size of the blocks read from the spool and written to the connection.
    """

    url: str
    calling_ae: str = "PANELGATE"
    tls: TlsConfig | None = None
    credentials: Credentials | None = None
    connect_s: float = 5.0
    idle_s: float = 60.0
    max_parts: int = 16
    commitment: bool = True
    block_bytes: int = 1 << 20
    called_ae: str = ""  # no AE title over the web; the audit trail names the host

    def __post_init__(self) -> None:
        problems = []
        problem = url_problem(self.url, tls=self.tls is not None)
        if problem:
            problems.append(f"url {problem}")
        problems.extend(
            f"{name} must be positive, got {getattr(self, name)}"
            for name in ("connect_s", "idle_s", "max_parts", "block_bytes")
            if not getattr(self, name) > 0
        )
        if problems:
            raise ValueError("invalid DICOMweb destination: " + "; ".join(problems))
        object.__setattr__(self, "url", self.url.rstrip("/"))

    @property
    def host(self) -> str:
        """The server's host name or address."""
        return urlsplit(self.url).hostname or ""

    def __str__(self) -> str:
        return self.url


AnyDestination = Destination | WebDestination
"""A destination of either kind: DIMSE (C-STORE) or DICOMweb (STOW-RS)."""

"""DICOM over TLS (PS3.15 B.9, BCP 195 profile): SSL contexts, and why a handshake failed.

pynetdicom reports a failed TLS handshake like a refused TCP connection (the association
simply never opens). :class:`HandshakeWatch` records the handshake's own error on the
client context, and :func:`describe_handshake_failure` says it in the operator's words:
certificate not trusted, host name mismatch, our certificate refused, or a peer that does
not speak TLS.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from panelgate.gateway.errors import GatewayError

__all__ = ["HandshakeWatch", "TlsConfig", "describe_handshake_failure"]

# OpenSSL X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH (x509_vfy.h).
_NAME_MISMATCH_CODES = (62, 64)


@dataclass(frozen=True)
class TlsConfig:
    """Certificates for one TLS endpoint (PEM files).

    Parameters
    ----------
    ca_file : pathlib.Path
        Trusted CA certificates; the peer's certificate must chain to one of them.
    cert_file, key_file : pathlib.Path or None
        Our certificate and private key: required for the listener, optional for a client
        (needed when the peer asks for a client certificate).
    verify_peer_name : bool
        Client side: check that the server certificate names the host we connect to.
    require_client_cert : bool
        Listener side: refuse clients without a certificate from ``ca_file``.
    """

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None
    verify_peer_name: bool = True
    require_client_cert: bool = True

    def client_context(self) -> ssl.SSLContext:
        """Build an SSL context for associations we open (TLS 1.2 or later).

        Raises
        ------
        GatewayError
            A certificate or key file cannot be loaded.
        """
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = self.verify_peer_name
        self._load(ctx, need_cert=False)
        return ctx

    def server_context(self) -> ssl.SSLContext:
        """Build an SSL context for the listener (TLS 1.2 or later).

        Raises
        ------
        GatewayError
            A certificate or key file is missing or cannot be loaded.
        """
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.verify_mode = ssl.CERT_REQUIRED if self.require_client_cert else ssl.CERT_OPTIONAL
        self._load(ctx, need_cert=True)
        return ctx

    def _load(self, ctx: ssl.SSLContext, *, need_cert: bool) -> None:
        if need_cert and (self.cert_file is None or self.key_file is None):
            raise GatewayError("a TLS listener needs cert_file and key_file")
        try:
            ctx.load_verify_locations(cafile=str(self.ca_file))
            if self.cert_file is not None:
                ctx.load_cert_chain(
                    str(self.cert_file), str(self.key_file) if self.key_file else None
                )
        except (OSError, ssl.SSLError) as exc:
            raise GatewayError(f"cannot load TLS certificates: {exc}") from exc


class HandshakeWatch:
    """Record the TLS handshake failure of connections made with one client context.

    Parameters
    ----------
    ctx : ssl.SSLContext
        A client context (:meth:`TlsConfig.client_context`); its sockets are watched from
        now on (through :attr:`ssl.SSLContext.sslsocket_class`).

    Attributes
    ----------
    failure : OSError or None
        What the last failed handshake raised; None when none failed.
    """

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.failure: OSError | None = None
        watch = self

        class _WatchedSocket(ssl.SSLSocket):
            def do_handshake(self, block: bool = False) -> None:
                try:
                    super().do_handshake(block)
                except OSError as exc:
                    watch.failure = exc
                    raise

        ctx.sslsocket_class = _WatchedSocket


def describe_handshake_failure(exc: OSError, host: str) -> str:
    """Say why a TLS handshake with ``host`` failed, in one line.

    Parameters
    ----------
    exc : OSError
        What the handshake raised (see :class:`HandshakeWatch`).
    host : str
        The host name or address the certificate was checked against.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in _NAME_MISMATCH_CODES:
            return f"host name mismatch: the peer's certificate is not issued for {host}"
        return f"certificate not trusted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        reason = str(exc.reason or exc)
        if "ALERT" in reason and ("CERTIFICATE" in reason or "UNKNOWN_CA" in reason):
            return f"the peer refused our certificate ({reason})"
        return f"the peer does not speak TLS ({reason})"
    if isinstance(exc, TimeoutError):
        return "the peer does not speak TLS (no answer to the TLS handshake)"
    return f"the peer does not speak TLS (it ended the connection during the handshake: {exc})"

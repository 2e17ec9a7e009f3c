"""DICOM over TLS (PS3.15 B.9, BCP 195 profile): SSL contexts for the client and the listener."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from panelgate.gateway.errors import GatewayError

__all__ = ["TlsConfig"]


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

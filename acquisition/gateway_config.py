"""Configuration sections of the gateway agent, each turned into the gateway's typed objects.

Sections: ``[outbox]``, ``[retry]``, ``[listener]`` and ``[destinations.NAME]``.

Example::

    [outbox]
    directory = "/var/spool/panelgate"
    reserve_mb = 2000          # refuse new exposures below this much free space
    retention_s = 86400        # keep committed files this long
    audit_file = "/var/log/panelgate/audit.jsonl"

    [retry]
    initial_s = 2
    max_s = 300
    multiplier = 2
    max_attempts = 0           # 0: never give up

    [listener]                 # Storage Commitment results, C-ECHO
    ae_title = "PANELGATE"
    port = 11112
    allowed_calling_aes = ["ORTHANC"]

    [destinations.orthanc]
    host = "pacs.example.org"
    port = 4242
    called_ae = "ORTHANC"
    commitment = true
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from panelgate.gateway.outbox import RetryPolicy
from panelgate.gateway.pacs import Destination, TlsConfig

__all__ = ["DestinationConfig", "ListenerConfig", "OutboxConfig", "RetryConfig"]


@dataclass(frozen=True)
class OutboxConfig:
    """``[outbox]``: the spool directory and how long files stay."""

    directory: str = "panelgate-outbox"
    reserve_mb: float = 500.0
    retention_s: float = 0.0
    poll_s: float = 0.5
    commit_timeout_s: float = 60.0
    audit_file: str = ""

    @property
    def reserve_bytes(self) -> int:
        """The reserve in bytes."""
        return int(self.reserve_mb * 1e6)


@dataclass(frozen=True)
class RetryConfig:
    """``[retry]``: exponential backoff with jitter (see :class:`RetryPolicy`)."""

    initial_s: float = 1.0
    max_s: float = 300.0
    multiplier: float = 2.0
    max_attempts: int = 0

    def policy(self) -> RetryPolicy:
        """Return the gateway's retry policy."""
        return RetryPolicy(self.initial_s, self.max_s, self.multiplier, self.max_attempts)


def _tls(ca: str, cert: str, key: str) -> TlsConfig | None:
    if not ca:
        return None
    return TlsConfig(Path(ca), Path(cert) if cert else None, Path(key) if key else None)


@dataclass(frozen=True)
class ListenerConfig:
    """``[listener]``: the always-on association acceptor (Storage Commitment, C-ECHO)."""

    ae_title: str = "PANELGATE"
    host: str = "127.0.0.1"
    port: int = 11112
    allowed_calling_aes: tuple[str, ...] = ()
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""

    def tls(self) -> TlsConfig | None:
        """Return the TLS settings, or None without ``tls_ca_file``."""
        return _tls(self.tls_ca_file, self.tls_cert_file, self.tls_key_file)


@dataclass(frozen=True)
class DestinationConfig:
    """``[destinations.NAME]``: one PACS the outbox delivers to."""

    host: str = "127.0.0.1"
    port: int = 104
    called_ae: str = "ANY-SCP"
    commitment: bool = False
    connect_s: float = 5.0
    acse_s: float = 10.0
    dimse_s: float = 60.0
    network_s: float = 60.0
    max_pdu: int = 131072
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""

    def destination(self, calling_ae: str) -> Destination:
        """Return the gateway destination, calling as ``calling_ae``."""
        return Destination(
            self.host,
            self.port,
            called_ae=self.called_ae,
            calling_ae=calling_ae,
            connect_s=self.connect_s,
            acse_s=self.acse_s,
            dimse_s=self.dimse_s,
            network_s=self.network_s,
            max_pdu=self.max_pdu,
            tls=_tls(self.tls_ca_file, self.tls_cert_file, self.tls_key_file),
            commitment=self.commitment,
        )

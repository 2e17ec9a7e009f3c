"""Configuration sections of the gateway agent, each turned into the gateway's typed objects.

Sections: ``[outbox]``, ``[retry]``, ``[listener]`` and ``[destinations.NAME]``. Each is a
frozen :class:`~.config_section.Section` that validates its own fields when it is made.

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

    [destinations.archive]     # STOW-RS; keys in acquisition/dicomweb_config.py
    kind = "dicomweb"
    url = "https://archive.example.org/dicom-web"
    auth = "bearer"
    token_file = "/etc/panelgate/archive.token"
    commitment = true          # committed once QIDO-RS finds the instance as sent
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from panelgate.gateway.dicomweb import AnyDestination, WebDestination
from panelgate.gateway.outbox import RetryPolicy
from panelgate.gateway.pacs import Destination, TlsConfig

from .config_limits import (
    AETitle,
    AnyPort,
    AtLeast,
    Host,
    InRange,
    NonEmpty,
    NonNegativeFloat,
    NonNegativeInt,
    Seconds,
)
from .config_section import Problems, Section
from .dicomweb_config import DicomWebFields
from .peer_config import DicomPeerConfig
from .tls_files import tls_problems

__all__ = ["DestinationConfig", "ListenerConfig", "OutboxConfig", "RetryConfig"]

_MAX_PDU = 2**32 - 1  # PS3.8 9.3.1: the Maximum Length is a 32-bit unsigned number


def _audit_problems(audit_file: str) -> Problems:
    if not audit_file:
        return []
    path = Path(audit_file)
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        return [("audit_file", f"{audit_file!r}: folder {str(folder)!r} {what}")]
    if path.exists() and not path.is_file():
        return [("audit_file", f"{audit_file!r} is not a file")]
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK | (0 if path.exists() else os.X_OK)):
        return [("audit_file", f"{audit_file!r}: {str(target)!r} is not writable")]
    return []


@dataclass(frozen=True)
class OutboxConfig(Section):
    """``[outbox]``: the spool directory and how long files stay.

    ``reserve_mb`` 0 means no reserve; ``retention_s`` 0 releases files as soon as every
    destination holds them. ``audit_file``, when given, must lie in an existing, writable
    folder.
    """

    directory: Annotated[str, NonEmpty()] = "panelgate-outbox"
    reserve_mb: NonNegativeFloat = 500.0
    retention_s: NonNegativeFloat = 0.0
    poll_s: Seconds = 0.5
    commit_timeout_s: Seconds = 60.0
    audit_file: str = ""

    @property
    def reserve_bytes(self) -> int:
        """The reserve in bytes."""
        return int(self.reserve_mb * 1e6)

    def _joint_problems(self) -> Problems:
        return _audit_problems(self.audit_file)


@dataclass(frozen=True)
class RetryConfig(Section):
    """``[retry]``: exponential backoff with jitter (see :class:`RetryPolicy`).

    ``max_s`` must be at least ``initial_s``; ``multiplier`` at least 1 (the backoff never
    shrinks); ``max_attempts`` 0 never gives up.
    """

    initial_s: Seconds = 1.0
    max_s: Seconds = 300.0
    multiplier: Annotated[float, AtLeast(1.0)] = 2.0
    max_attempts: NonNegativeInt = 0

    def policy(self) -> RetryPolicy:
        """Return the gateway's retry policy."""
        return RetryPolicy(self.initial_s, self.max_s, self.multiplier, self.max_attempts)

    def _joint_problems(self) -> Problems:
        if self.max_s < self.initial_s:
            return [
                ("max_s", f"must be at least initial_s ({self.initial_s!r}), got {self.max_s!r}")
            ]
        return []


def _tls(ca: str, cert: str, key: str) -> TlsConfig | None:
    if not ca:
        return None
    return TlsConfig(Path(ca), Path(cert) if cert else None, Path(key) if key else None)


@dataclass(frozen=True)
class ListenerConfig(Section):
    """``[listener]``: the always-on association acceptor (Storage Commitment, C-ECHO).

    ``port`` 0 listens on any free port (a PACS cannot then be told where to send its
    Storage Commitment results: for tests). The TLS files are loaded at validation.
    """

    ae_title: AETitle = "PANELGATE"
    host: Host = "127.0.0.1"
    port: AnyPort = 11112
    allowed_calling_aes: tuple[AETitle, ...] = ()
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""

    def tls(self) -> TlsConfig | None:
        """Return the TLS settings, or None without ``tls_ca_file``."""
        return _tls(self.tls_ca_file, self.tls_cert_file, self.tls_key_file)

    def _joint_problems(self) -> Problems:
        return tls_problems(self.tls_ca_file, self.tls_cert_file, self.tls_key_file, server=True)


@dataclass(frozen=True)
class DestinationConfig(DicomWebFields, DicomPeerConfig):
    """``[destinations.NAME]``: one PACS the outbox delivers to (a :class:`DicomPeerConfig`).

    Adds the ACSE and network timeouts, the largest PDU we accept (1 to 2³²−1 bytes), the
    Storage Commitment switch and the TLS files, which are loaded at validation. With
    ``kind = "dicomweb"`` (:class:`~.dicomweb_config.DicomWebFields`) it is a DICOMweb
    server instead: ``url``, ``auth`` and its secret, ``max_parts``; ``connect_s``,
    ``network_s`` (the idle timeout), ``commitment`` (confirmation by QIDO-RS) and the
    TLS files keep their meaning, the DIMSE keys are not used.
    """

    commitment: bool = False
    acse_s: Seconds = 10.0
    network_s: Seconds = 60.0
    max_pdu: Annotated[int, InRange(1, _MAX_PDU)] = 131072
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""

    def destination(self, calling_ae: str) -> AnyDestination:
        """Return the gateway destination, calling as ``calling_ae``.

        Raises
        ------
        ValueError
            A DICOMweb secret's file or variable went away since validation.
        """
        if self.kind == "dicomweb":
            return WebDestination(
                self.url,
                calling_ae=calling_ae,
                tls=_tls(self.tls_ca_file, self.tls_cert_file, self.tls_key_file),
                credentials=self.credentials(),
                connect_s=self.connect_s,
                idle_s=self.network_s,
                max_parts=self.max_parts,
                commitment=self.commitment,
            )
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

    def _joint_problems(self) -> Problems:
        tls = tls_problems(self.tls_ca_file, self.tls_cert_file, self.tls_key_file, server=False)
        return tls + self.web_problems(self.tls_ca_file)

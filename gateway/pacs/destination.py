"""Where instances go: a DICOM application entity on the network."""

from __future__ import annotations

from dataclasses import dataclass

from .tls import TlsConfig

__all__ = ["Destination"]


@dataclass(frozen=True)
class Destination:
    """A remote DICOM AE and the timeouts used with it.

    Parameters
    ----------
    host : str
        Host name or address.
    port : int
        TCP port.
    called_ae : str
        The peer's AE title.
    calling_ae : str
        Our AE title.
    connect_s, acse_s, dimse_s, network_s : float
        Timeouts in seconds for the TCP connection, association negotiation, each DIMSE
        reply, and network inactivity.
    max_pdu : int
        Largest PDU we accept from the peer (bytes; 0 = no limit).
    tls : TlsConfig or None
        Use DICOM over TLS (PS3.15 B.9) with these certificates.
    commitment : bool
        Ask the peer to commit each stored instance (Storage Commitment Push Model, PS3.4 J).
    """

    host: str
    port: int
    called_ae: str = "ANY-SCP"
    calling_ae: str = "PANELGATE"
    connect_s: float = 5.0
    acse_s: float = 10.0
    dimse_s: float = 60.0
    network_s: float = 60.0
    max_pdu: int = 131072
    tls: TlsConfig | None = None
    commitment: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.port < 65536:
            problems.append(f"port must be 1..65535, got {self.port}")
        for name in ("called_ae", "calling_ae"):
            ae = getattr(self, name)
            if not 0 < len(ae.strip()) <= 16 or "\\" in ae or not ae.isascii():
                problems.append(f"{name} must be 1-16 ASCII characters without '\\', got {ae!r}")
        problems.extend(
            f"{name} must be positive, got {getattr(self, name)}"
            for name in ("connect_s", "acse_s", "dimse_s", "network_s")
            if not getattr(self, name) > 0
        )
        if problems:
            raise ValueError("invalid destination: " + "; ".join(problems))

    def __str__(self) -> str:
        return f"{self.called_ae}@{self.host}:{self.port}"

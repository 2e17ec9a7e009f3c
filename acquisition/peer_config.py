"""A DICOM peer panelgate opens associations to: one value object for one concept.

``[pacs]``, ``[worklist]`` and each ``[destinations.NAME]`` describe the same thing (where
a peer is, the AE title it answers to, how long to wait for it), so they share this one
declaration of the fields and their limits instead of each repeating them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config_limits import AETitle, Host, Port, Seconds
from .config_section import Section

__all__ = ["DicomPeerConfig"]


@dataclass(frozen=True)
class DicomPeerConfig(Section):
    """A DICOM peer: its address, its AE title and the per-phase timeouts.

    Parameters
    ----------
    host : str
        Host name or address; not empty.
    port : int
        TCP port, 1-65535.
    called_ae : str
        The peer's AE title (PS3.5 6.2: 1-16 characters, no backslash).
    connect_s : float
        TCP connection timeout, seconds; positive and finite.
    dimse_s : float
        Timeout of each DIMSE reply, seconds; positive and finite.

    Raises
    ------
    InvalidSection
        Any field outside its limits; every one is named.
    """

    host: Host = "127.0.0.1"
    port: Port = 104
    called_ae: AETitle = "ANY-SCP"
    connect_s: Seconds = 5.0
    dimse_s: Seconds = 60.0

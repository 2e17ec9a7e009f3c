"""``[mpps]``: the Modality Performed Procedure Step SCP the station reports its steps to.

IHE Scheduled Workflow RAD-6/RAD-7 (PS3.4 Annex F): when a configured peer exists, the
first exposure of a worklist step creates its Performed Procedure Step (N-CREATE
``IN PROGRESS``) and the end of the step sets it ``COMPLETED`` with the images and the
dose, or ``DISCONTINUED`` when no image was made::

    [mpps]
    host = "ris.example"
    port = 104
    called_ae = "RIS"
    retry_s = 5.0      # first wait after a failure; doubled up to 60 s

Without ``[mpps]`` nothing is sent. A failure never holds an exposure back: the request
is kept in order and retried (:mod:`panelgate.station.procedure_step`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .config_limits import Seconds
from .peer_config import DicomPeerConfig

__all__ = ["MppsConfig"]


@dataclass(frozen=True)
class MppsConfig(DicomPeerConfig):
    """``[mpps]``: the MPPS SCP (address, AE title, timeouts) and the first retry wait (s)."""

    dimse_s: Seconds = 30.0
    retry_s: Seconds = 5.0

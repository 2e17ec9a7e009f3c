"""The agent's always-on DICOM listener: Storage Commitment results and Verification.

A PACS sends the Storage Commitment result (N-EVENT-REPORT, PS3.4 J.3.3) on a new
association it opens to us, acting in the SCP role of the Storage Commitment Push Model
SOP class: the listener accepts that context with role selection for both roles. Calling
AE titles outside the allow-list are rejected (and audited); TLS is optional.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from pynetdicom import AE, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StorageCommitmentPushModel,
    Verification,
)

from panelgate.gateway.errors import GatewayError

from .audit import SERIOUS_FAILURE, AuditTrail
from .commit import CommitmentResult, parse_commitment_report
from .promptness import acknowledge_promptly
from .tls import TlsConfig

__all__ = ["Listener"]

_log = logging.getLogger(__name__)

_SUCCESS = 0x0000
_PROCESSING_FAILURE = 0x0110
_NO_SUCH_EVENT_TYPE = 0x0113


class Listener:
    """A pynetdicom server accepting Storage Commitment reports and C-ECHO.

    Parameters
    ----------
    ae_title : str
        Our AE title (the one registered at the PACS).
    on_commitment : callable
        Called with each :class:`CommitmentResult`; it must persist it before returning,
        as the reply tells the PACS the report was received.
    host, port : str, int
        Where to listen; port 0 picks a free one (see :attr:`port`).
    allowed_calling_aes : sequence of str
        Calling AE titles accepted; empty accepts any.
    tls : TlsConfig, optional
        Accept DICOM over TLS only.
    audit : AuditTrail, optional
        Where rejected associations and commitment reports are recorded.
    """

    def __init__(
        self,
        ae_title: str,
        on_commitment: Callable[[CommitmentResult], None],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        allowed_calling_aes: Sequence[str] = (),
        tls: TlsConfig | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        self.ae_title = ae_title
        self.host = host
        self._requested_port = port
        self._on_commitment = on_commitment
        self._allowed = tuple(allowed_calling_aes)
        self._tls = tls
        self._audit = audit or AuditTrail(None)
        self._server: Any = None

    @property
    def port(self) -> int:
        """The TCP port being listened on."""
        if self._server is None:
            raise GatewayError("listener is not running")
        return int(self._server.server_address[1])

    def start(self) -> Listener:
        """Start listening in background threads.

        Raises
        ------
        GatewayError
            The port cannot be bound or the TLS certificates cannot be loaded.
        """
        ae = AE(ae_title=self.ae_title)
        ae.add_supported_context(StorageCommitmentPushModel, scu_role=True, scp_role=True)
        ae.add_supported_context(Verification)
        if self._allowed:
            ae.require_calling_aet = list(self._allowed)
        kwargs: dict[str, Any] = {}
        if self._tls is not None:
            kwargs["ssl_context"] = self._tls.server_context()
        try:
            self._server = ae.start_server(
                (self.host, self._requested_port),
                block=False,
                evt_handlers=[
                    # Before the association's reactor starts reading (see .promptness).
                    (evt.EVT_CONN_OPEN, lambda event: acknowledge_promptly(event.assoc)),
                    (evt.EVT_N_EVENT_REPORT, self.handle_event_report),
                    (evt.EVT_REJECTED, self._on_rejected),
                ],
                **kwargs,
            )
        except OSError as exc:
            raise GatewayError(
                f"cannot listen on {self.host}:{self._requested_port}: {exc.strerror or exc}"
            ) from exc
        _log.info("listener %s on %s:%d", self.ae_title, self.host, self.port)
        return self

    def stop(self) -> None:
        """Stop listening and close open associations."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def handle_event_report(self, event: Any) -> tuple[int, None]:
        """Handle ``EVT_N_EVENT_REPORT`` (the listener's, and on our own associations)."""
        request = event.request
        if request.AffectedSOPClassUID != StorageCommitmentPushModel:
            return _NO_SUCH_EVENT_TYPE, None
        try:
            result = parse_commitment_report(int(request.EventTypeID), event.event_information)
        except (ValueError, AttributeError) as exc:
            _log.warning("unreadable storage commitment report: %s", exc)
            return _PROCESSING_FAILURE, None
        try:
            self._on_commitment(result)
        except Exception:  # must not kill the server thread; the PACS will be told
            _log.exception("storing commitment result %s failed", result.transaction_uid)
            return _PROCESSING_FAILURE, None
        requestor = event.assoc.requestor
        self._audit.record(
            "storage-commitment",
            outcome=0 if not result.failed else 4,
            local_ae=self.ae_title,
            remote_ae=str(requestor.ae_title),
            remote_host=str(requestor.address),
            instances=list(result.committed) + list(result.failed),
            transaction_uid=result.transaction_uid,
            failed=len(result.failed),
        )
        _log.info(
            "commitment %s: %d committed, %d failed",
            result.transaction_uid,
            len(result.committed),
            len(result.failed),
        )
        return _SUCCESS, None

    def _on_rejected(self, event: Any) -> None:
        requestor = event.assoc.requestor
        _log.warning("rejected association from %s (%s)", requestor.ae_title, requestor.address)
        self._audit.record(
            "association-rejected",
            outcome=SERIOUS_FAILURE,
            local_ae=self.ae_title,
            remote_ae=str(requestor.ae_title),
            remote_host=str(requestor.address),
            detail="calling AE title not allowed",
        )

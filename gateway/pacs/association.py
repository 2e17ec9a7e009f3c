"""Opening an association to a destination, and saying precisely why one failed (PS3.8 7.1).

Every SCU in panelgate (C-STORE, commitment, worklist, MPPS) opens its associations here, so
that timeouts, TLS, TCP settings (:mod:`.promptness`) and the failure messages are the same
everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pynetdicom import AE, evt

from panelgate.gateway.errors import DeliveryError

from .destination import Destination
from .promptness import acknowledge_promptly
from .tls import HandshakeWatch, describe_handshake_failure

__all__ = ["association_error", "open_association"]

_log = logging.getLogger(__name__)


def open_association(
    destination: Destination, contexts: Sequence[Any], handlers: Sequence[Any] = ()
) -> Any:
    """Open an association with ``destination``'s timeouts, PDU size and TLS.

    Parameters
    ----------
    destination : Destination
        The peer.
    contexts : sequence of pynetdicom PresentationContext
        The presentation contexts to propose (at most 128).
    handlers : sequence of (event, handler)
        Extra pynetdicom event handlers bound to the association.

    Returns
    -------
    pynetdicom.association.Association
        Established, with prompt TCP acknowledgements; the caller releases it.

    Raises
    ------
    DeliveryError
        No TCP connection, TLS handshake failed, association rejected or aborted, or no
        answer to the request.
    """
    ae = AE(ae_title=destination.calling_ae)
    ae.connection_timeout = destination.connect_s
    ae.acse_timeout = destination.acse_s
    ae.dimse_timeout = destination.dimse_s
    ae.network_timeout = destination.network_s
    kwargs: dict[str, Any] = {}
    watch: HandshakeWatch | None = None
    if destination.tls is not None:
        ctx = destination.tls.client_context()
        watch = HandshakeWatch(ctx)
        kwargs["tls_args"] = (ctx, destination.host)
    connected: list[bool] = []
    assoc = ae.associate(
        destination.host,
        destination.port,
        contexts=list(contexts),
        ae_title=destination.called_ae,
        max_pdu=destination.max_pdu,
        evt_handlers=[(evt.EVT_CONN_OPEN, lambda _event: connected.append(True)), *handlers],
        **kwargs,
    )
    if not assoc.is_established:
        raise association_error(
            assoc,
            destination,
            tcp_connected=bool(connected),
            tls_failure=watch.failure if watch is not None else None,
        )
    acknowledge_promptly(assoc)
    return assoc


def association_error(
    assoc: object,
    destination: Destination,
    *,
    tcp_connected: bool,
    tls_failure: OSError | None = None,
) -> DeliveryError:
    """Turn a failed association into a :class:`DeliveryError` that says why.

    A failed TLS handshake (``tls_failure``) is logged at WARNING, naming the destination.
    """
    if tls_failure is not None:
        why = describe_handshake_failure(tls_failure, destination.host)
        _log.warning("TLS handshake with %s failed: %s", destination, why)
        return DeliveryError(f"TLS handshake with {destination} failed: {why}", retryable=True)
    if not tcp_connected:
        return DeliveryError(
            f"cannot reach PACS {destination}: no TCP connection within "
            f"{destination.connect_s:g} s (is it running and listening there?)",
            retryable=True,
        )
    if getattr(assoc, "is_rejected", False):
        # PS3.8 9.3.4: result 1 = rejected-permanent, 2 = rejected-transient.
        acceptor = getattr(assoc, "acceptor", None)
        result = getattr(getattr(acceptor, "primitive", None), "result", None)
        return DeliveryError(
            f"{destination} rejected the association (check the AE titles: called "
            f"{destination.called_ae!r}, calling {destination.calling_ae!r})",
            retryable=result == 2,
        )
    if getattr(assoc, "is_aborted", False):
        return DeliveryError(f"{destination} aborted the association", retryable=True)
    return DeliveryError(
        f"{destination} accepted the connection but no association followed within "
        f"{destination.acse_s:g} s (is it a DICOM service?)",
        retryable=True,
    )

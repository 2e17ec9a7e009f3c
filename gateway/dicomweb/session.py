"""One DICOMweb destination's connection: what the outbox worker calls to store and confirm."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx

from panelgate.gateway.pacs.status import Outcome

from .destination import WebDestination
from .http import open_client
from .qido import Confirmation, confirm
from .stow import stow

__all__ = ["WebSession"]


class WebSession:
    """An HTTP connection pool to one DICOMweb server, opened on first use and reused.

    Parameters
    ----------
    destination : WebDestination
        The server, its TLS, credentials, timeouts and part limit.
    """

    def __init__(self, destination: WebDestination) -> None:
        self.destination = destination
        self._client: httpx.Client | None = None

    @property
    def max_parts(self) -> int:
        """Instances per STOW-RS request."""
        return self.destination.max_parts

    def store(self, items: Sequence[tuple[str, Path]]) -> dict[str, tuple[Outcome, str]]:
        """STOW-RS ``items`` (at most :attr:`max_parts`); see :func:`~.stow.stow`."""
        return stow(self._open(), self.destination, items)

    def confirm(self, items: Sequence[tuple[str, Path]]) -> Confirmation:
        """QIDO-RS which of ``items`` the server holds; see :func:`~.qido.confirm`."""
        return confirm(self._open(), self.destination, items)

    def close(self) -> None:
        """Close the connections (the next call opens new ones)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _open(self) -> httpx.Client:
        if self._client is None:
            self._client = open_client(self.destination)
        return self._client

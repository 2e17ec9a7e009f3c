"""The embedded PACS: a C-STORE SCP on 127.0.0.1 that files what it receives.

For the demo, for tests, and for sites that have no PACS yet. Each instance is written
atomically to ``<directory>/<SOPInstanceUID>.dcm``, readable only by the agent's user;
storing the same SOP Instance UID again replaces the file (idempotent). A data set that is
not whole (truncated, Pixel Data of the wrong length, frames that do not decode:
:func:`~panelgate.gateway.dicom.inspect.inspect_part10`) is refused with ``0xC210``, a
"cannot understand" failure (PS3.4 B.2.3, PS3.7 C.4), and the defect in Error Comment;
nothing is stored.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.presentation import AllStoragePresentationContexts
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from panelgate.gateway.dicom.inspect import inspect_part10
from panelgate.gateway.dicom.write import write_atomic
from panelgate.gateway.errors import GatewayError, InvalidInstance

__all__ = ["EmbeddedPacs"]

_log = logging.getLogger(__name__)

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_OUT_OF_RESOURCES = 0xA700
_CANNOT_UNDERSTAND = 0xC000
_NOT_WHOLE = 0xC210  # in the 0xCxxx "cannot understand" range of C-STORE (PS3.4 B.2.3)
_ERROR_COMMENT_CHARS = 64  # Error Comment (0000,0902) is LO (PS3.7 C.4, PS3.5 6.2)


class EmbeddedPacs:
    """A minimal Storage SCP (PS3.4 Annex B) writing to a directory.

    Parameters
    ----------
    directory : pathlib.Path
        Where received instances are filed; created if missing.
    ae_title : str
        Our AE title.
    host : str
        Address to listen on; loopback by default.
    port : int
        TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
    """

    def __init__(
        self,
        directory: Path,
        ae_title: str = "PANELGATE-PACS",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.directory = Path(directory)
        self.ae_title = ae_title
        self.host = host
        self._requested_port = port
        self._server: Any = None
        self._lock = threading.Lock()
        self.received: list[Path] = []

    @property
    def port(self) -> int:
        """The TCP port being listened on."""
        if self._server is None:
            raise GatewayError("embedded PACS is not running")
        return int(self._server.server_address[1])

    def start(self) -> EmbeddedPacs:
        """Start listening in background threads.

        Raises
        ------
        GatewayError
            The directory cannot be created or the port cannot be bound.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GatewayError(
                f"cannot create PACS directory {self.directory}: {exc.strerror}"
            ) from exc
        ae = AE(ae_title=self.ae_title)
        ae.maximum_pdu_size = 262144
        for cx in AllStoragePresentationContexts:
            if cx.abstract_syntax is not None:
                ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        try:
            self._server = ae.start_server(
                (self.host, self._requested_port),
                block=False,
                evt_handlers=[(evt.EVT_C_STORE, self._on_store)],
            )
        except OSError as exc:
            raise GatewayError(
                f"cannot listen on {self.host}:{self._requested_port}: {exc.strerror or exc}"
            ) from exc
        _log.info("embedded PACS %s listening on %s:%d", self.ae_title, self.host, self.port)
        return self

    def stop(self) -> None:
        """Stop listening and close open associations."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> EmbeddedPacs:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_store(self, event: Any) -> int | Dataset:
        refusal = self._refusal(event)
        if refusal is not None:
            return refusal
        try:
            ds: Dataset = event.dataset
            meta = FileMetaDataset(event.file_meta)
            ds.file_meta = meta
            sop_uid = str(ds.SOPInstanceUID)
            if not (len(sop_uid) <= 64 and _UID.match(sop_uid)):
                raise ValueError(f"malformed SOP Instance UID {sop_uid[:80]!r}")
        except Exception as exc:  # a malformed dataset must not kill the server thread
            _log.warning("rejected a C-STORE whose dataset could not be decoded: %s", exc)
            _log.debug("the undecodable dataset's error", exc_info=True)
            return _CANNOT_UNDERSTAND
        target = self.directory / f"{sop_uid}.dcm"
        try:
            write_atomic(ds, target)
        except OSError as exc:
            _log.error("cannot file instance %s: %s", sop_uid, exc)
            return _OUT_OF_RESOURCES
        with self._lock:
            self.received.append(target)
        _log.info("stored instance %s", sop_uid)
        return 0x0000

    def _refusal(self, event: Any) -> Dataset | None:
        """Return a 0xC210 status naming the defect when the data set is not whole."""
        source = "C-STORE data set"
        try:
            inspect_part10(event.encoded_dataset(), source)
        except InvalidInstance as exc:
            defect = str(exc).removeprefix(f"{source}: ")
            _log.warning(
                "refused instance %s: %s",
                getattr(event.request, "AffectedSOPInstanceUID", "?"),
                defect,
            )
            status = Dataset()
            status.Status = _NOT_WHOLE
            status.ErrorComment = defect[:_ERROR_COMMENT_CHARS]
            return status
        return None

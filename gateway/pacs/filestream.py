"""Streaming a spooled Part-10 file's data set as P-DATA-TF PDUs, without copying it.

pynetdicom fragments a data set in Python: each fragment is read into a new ``bytes``,
prefixed, wrapped in a primitive, queued to the DUL thread, encoded into a PDU by
concatenation and sent, so a 19 MB radiograph is copied about four times and crosses two
threads under the GIL, on a machine whose other core is busy receiving it. This module
sends the same bytes the way dcmtk does: each PDU is a 12-byte header and a slice of the
memory-mapped file handed to ``sendmsg`` (one copy, by the kernel).

Only the transport of the data set changes. pynetdicom still negotiates the association,
builds and encodes the C-STORE-RQ command set, waits for the C-STORE-RSP and checks its
status: :class:`FileStreamer` replaces the association's ``dimse.send_msg`` with a hook
that takes over one armed C-STORE request and passes every other message through. A TLS
association, or anything the hook does not recognise, goes through pynetdicom unchanged.

PDU layout (PS3.8 9.3.5, Annex E): type 04H, reserved, PDU length (4 bytes, big endian),
then one presentation-data-value item: item length (4 bytes), presentation context ID,
message control header (bit 0: command; bit 1: last fragment) and the fragment. The
command set comes first, then the data set; no other message's fragments in between.
"""

from __future__ import annotations

import contextlib
import mmap
import select
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import split_dataset

__all__ = ["FileStreamer"]

_P_DATA_TF = 0x04
_HEADER = struct.Struct(">BBIIBB")  # PDU type, reserved, PDU length, item length, id, control
_COMMAND, _LAST = 0x01, 0x02
_UNLIMITED_FRAGMENT = 1 << 22  # fragment size when the peer sets no maximum PDU length


@dataclass(frozen=True)
class _Armed:
    sop_instance_uid: str
    path: Path
    offset: int
    meanwhile: Callable[[], None] | None


class FileStreamer:
    """Send the data set of armed C-STORE requests straight from their files.

    Parameters
    ----------
    assoc : pynetdicom.association.Association
        An established association (the requestor side).
    stall_s : float
        Longest wait for the peer to take more data before the association is aborted.

    Attributes
    ----------
    streamed : int
        Data sets sent by this streamer (the others went through pynetdicom).
    """

    def __init__(self, assoc: Any, stall_s: float) -> None:
        self._assoc = assoc
        self._stall_s = stall_s
        self._armed: _Armed | None = None
        self._pynetdicom_send: Callable[[Any, int], None] = assoc.dimse.send_msg
        assoc.dimse.send_msg = self._send_msg
        self.streamed = 0

    @contextmanager
    def armed(self, path: Path, meanwhile: Callable[[], None] | None = None) -> Iterator[None]:
        """Within the block, the C-STORE of the file at ``path`` is streamed from it.

        ``path`` must be the Part-10 file pynetdicom is given, sent in its own transfer
        syntax (an accepted presentation context has it). The request is recognised by
        the file's Media Storage SOP Instance UID. ``meanwhile`` is called once the data
        set is on the wire, while the peer stores it and before the reply is awaited; it
        must not raise.
        """
        meta, offset = split_dataset(path)
        uid = str(meta.get("MediaStorageSOPInstanceUID", ""))
        self._armed = _Armed(uid, Path(path), offset, meanwhile) if uid else None
        try:
            yield
        finally:
            self._armed = None

    def _send_msg(self, primitive: Any, context_id: int) -> None:
        armed, sock = self._armed, self._plain_socket()
        if (
            armed is None
            or sock is None
            or not isinstance(primitive, C_STORE)
            or primitive.MessageIDBeingRespondedTo is not None
            or str(primitive.AffectedSOPInstanceUID) != armed.sop_instance_uid
        ):
            self._pynetdicom_send(primitive, context_id)
            return
        self._armed = None
        self._stream(sock, primitive, context_id, armed)
        self.streamed += 1
        if armed.meanwhile is not None:
            armed.meanwhile()

    def _plain_socket(self) -> socket.socket | None:
        transport = getattr(self._assoc.dul, "socket", None)
        sock = getattr(transport, "socket", None)
        return sock if type(sock) is socket.socket else None  # not TLS, not closed

    def _stream(self, sock: socket.socket, primitive: Any, context_id: int, armed: _Armed) -> None:
        max_pdu = int(self._assoc.dimse.maximum_pdu_size)
        fragment = max_pdu - 6 if max_pdu else _UNLIMITED_FRAGMENT
        message = C_STORE_RQ()
        message.primitive_to_message(primitive)
        # The command set, fragmented and encoded by pynetdicom; stop before its data set.
        for pdata in message.encode_msg(context_id, max_pdu):
            (_cx, pdv), *_ = pdata.presentation_data_value_list
            self._send(sock, [_header(context_id, pdv[0], len(pdv) - 1), pdv[1:]])
            if pdv[0] & _LAST:
                break
        with armed.path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            view = memoryview(mm)
            try:
                end = len(mm)
                for start in range(armed.offset, end, fragment):
                    stop = min(end, start + fragment)
                    control = _LAST if stop == end else 0
                    with view[start:stop] as part:
                        self._send(sock, [_header(context_id, control, stop - start), part])
            finally:
                view.release()

    def _send(self, sock: socket.socket, parts: list[Any]) -> None:
        """Send all of ``parts``, waiting at most ``stall_s`` for the peer each time."""
        buffers = [memoryview(p) for p in parts]
        deadline = time.monotonic() + self._stall_s
        try:
            while buffers:
                try:
                    sent = sock.sendmsg(buffers, [], socket.MSG_DONTWAIT)
                except BlockingIOError:
                    sent = 0
                if sent:
                    deadline = time.monotonic() + self._stall_s
                while buffers and sent >= len(buffers[0]):
                    sent -= len(buffers.pop(0))
                if buffers and sent:
                    buffers[0] = buffers[0][sent:]
                left_s = max(0.0, deadline - time.monotonic())
                if buffers and not select.select([], [sock], [], left_s)[1]:
                    raise TimeoutError(f"the peer took no data for {self._stall_s:g} s")
        except OSError as exc:
            # The stream is cut mid-PDU: nothing more can be said on this connection. Shut
            # it down first, so that the abort cannot block behind the unsent data.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            self._assoc.abort()
            raise ConnectionError(f"sending the data set failed: {exc}") from exc
        finally:
            for b in buffers:
                b.release()


def _header(context_id: int, control: int, length: int) -> bytes:
    """Encode the P-DATA-TF PDU header and PDV item header of one fragment (PS3.8 9.3.5)."""
    return _HEADER.pack(_P_DATA_TF, 0, length + 6, length + 2, context_id, control)

"""Streaming spooled files as P-DATA-TF PDUs: the bytes dcmtk receives, and a stalled peer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pynetdicom.dsutils import split_dataset

from panelgate.gateway.dicom import write_atomic
from panelgate.gateway.pacs import Destination, Outcome
from panelgate.gateway.pacs.session import StoreSession


def _data_set_bytes(path: Path) -> bytes:
    _meta, offset = split_dataset(path)
    return path.read_bytes()[offset:]


def _spool(tmp_path: Path, datasets: list[pydicom.Dataset]) -> list[Path]:
    paths = []
    for ds in datasets:
        path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
        write_atomic(ds, path)
        paths.append(path)
    return paths


def _send_all(session: StoreSession, paths: list[Path]) -> list[Outcome]:
    outcomes = []
    for path in paths:
        meta, _offset = split_dataset(path)
        session.ensure({(meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID)})
        outcomes.append(session.send(path, meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID)[0])
    return outcomes


@pytest.mark.parametrize("pdu", ["4096", "16384", "131072", "0"])
def test_dcmtk_receives_exactly_the_spooled_data_sets(
    tmp_path: Path, start_storescp: Callable[..., Any], dx: Callable[..., pydicom.Dataset], pdu: str
) -> None:
    # storescp +B writes what arrives: the data set bytes must equal the spooled file's,
    # for small and large fragments, and with no PDU limit (0) at all.
    storescp = start_storescp("-pdu", pdu) if pdu != "0" else start_storescp()
    paths = _spool(tmp_path, [dx(seed, size=size) for seed, size in ((1, 8), (2, 64), (3, 300))])
    destination = Destination("127.0.0.1", storescp.port, called_ae=storescp.aet, calling_ae="A")
    with StoreSession(destination) as session:
        assert _send_all(session, paths) == [Outcome.SUCCESS] * 3, storescp.log()
        assert session._streamer is not None and session._streamer.streamed == 3
    received = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p
                for p in storescp.received()}  # fmt: skip
    assert len(received) == 3
    for path in paths:
        uid = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        assert _data_set_bytes(received[uid]) == _data_set_bytes(path)


class StallingProxy:
    """Forwards TCP to ``port`` until the client has sent ``limit`` bytes, then stops reading."""

    def __init__(self, port: int, limit: int) -> None:
        self.limit = limit
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.upstream_port = port
        self.stalled = threading.Event()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.sockets: list[socket.socket] = [self.listener]
        self._spawn(self._accept)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        self.sockets += [client, upstream]
        self._spawn(self._pipe, upstream, client, None)
        self._pipe(client, upstream, self.limit)

    def _pipe(self, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        forwarded = 0
        while not self.stop.is_set():
            if limit is not None and forwarded >= limit:
                self.stalled.set()
                self.stop.wait()
                return
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                dst.sendall(data)
            except OSError:
                return
            forwarded += len(data)

    def close(self) -> None:
        self.stop.set()
        for sock in self.sockets:
            sock.close()
        for thread in self.threads:
            thread.join(timeout=5)


@pytest.fixture
def stalling(storescp: Any) -> Iterator[StallingProxy]:
    proxy = StallingProxy(storescp.port, limit=256 * 1024)
    yield proxy
    proxy.close()


def test_peer_that_stops_reading_mid_data_set_is_a_retry_within_the_stall_time(
    tmp_path: Path, stalling: StallingProxy, storescp: Any, dx: Callable[..., pydicom.Dataset]
) -> None:
    # 2500 x 2500 uint16 is 12.5 MB: more than the socket buffers hold, so the send stalls.
    (path,) = _spool(tmp_path, [dx(7, size=2500)])
    destination = Destination(
        "127.0.0.1", stalling.port, called_ae=storescp.aet, calling_ae="A", dimse_s=1.0
    )
    session = StoreSession(destination)
    outcome: list[Any] = []
    sender = threading.Thread(target=lambda: outcome.extend(_send_all(session, [path])))
    sender.start()
    sender.join(timeout=30)
    assert not sender.is_alive(), "the sender hung on a peer that stopped reading"
    assert stalling.stalled.is_set()
    assert outcome == [Outcome.RETRY]
    assert not session.is_open


def test_meanwhile_runs_once_after_the_data_set_is_sent_and_cannot_break_the_store(
    tmp_path: Path, storescp: Any, dx: Callable[..., pydicom.Dataset],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    paths = _spool(tmp_path, [dx(11, size=64), dx(12, size=64)])
    destination = Destination("127.0.0.1", storescp.port, called_ae=storescp.aet, calling_ae="A")
    calls: list[int] = []

    def bookkeeping() -> None:
        streamer = session._streamer
        calls.append(streamer.streamed if streamer else -1)  # the data set is on the wire
        raise OSError("disk trouble in the caller's bookkeeping")

    with StoreSession(destination) as session:
        meta, _ = split_dataset(paths[0])
        session.ensure({(meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID)})
        for path in paths:
            outcome, _text = session.send(
                path, meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID, meanwhile=bookkeeping
            )
            assert outcome is Outcome.SUCCESS
        # Not open: the early return still runs it, once.
        session.close()
        assert session.send(paths[0], meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID,
                            meanwhile=bookkeeping)[0] is Outcome.RETRY  # fmt: skip
    assert calls == [1, 2, -1]
    assert caplog.text.count("bookkeeping during a C-STORE failed") == 3

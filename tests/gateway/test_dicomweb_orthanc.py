"""STOW-RS delivery and QIDO-RS confirmation against Orthanc's DICOMweb plugin (issue 17, 1).

The peer is Debian's Orthanc with the orthanc-dicomweb plugin, a child process of the test
on 127.0.0.1 (see ``dicomweb_peers.py``). Each test spools DX instances in a real outbox
and lets the same :class:`DestinationWorker` the agent runs deliver them.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from panelgate.gateway.dicomweb import Credentials, WebDestination
from panelgate.gateway.outbox import DestinationWorker, Outbox, RetryPolicy, State
from panelgate.gateway.pacs import TlsConfig

pytestmark = pytest.mark.timeout(300)


def _load_peers() -> Any:
    path = Path(__file__).with_name("dicomweb_peers.py")
    spec = importlib.util.spec_from_file_location("_dicomweb_peers_orthanc", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


peers = _load_peers()
FAST = RetryPolicy(initial_s=0.2, max_s=1.0)


@pytest.fixture
def orthanc(require_peer: Callable[[str], str], get_free_port: Callable[[], int]) -> Iterator[Any]:
    with peers.orthanc_web(require_peer, get_free_port) as peer:
        yield peer


def _spool(tmp_path: Path, datasets: list[pydicom.Dataset]) -> Outbox:
    outbox = Outbox(tmp_path / "outbox", ["web"], reserve_bytes=0)
    for ds in datasets:
        outbox.enqueue_dataset(ds)
    return outbox


def _deliver(worker: DestinationWorker, outbox: Outbox, n: int, timeout_s: float = 120) -> None:
    """Run rounds until ``n`` instances are committed (or fail with where they are)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(outbox.records("web", State.COMMITTED)) == n:
            return
        if worker.run_once() == 0:
            time.sleep(0.1)
    pytest.fail(f"not all committed within {timeout_s} s: {outbox.counts()}")


def _pixels(data: bytes) -> tuple[str, bytes]:
    ds = pydicom.dcmread(io.BytesIO(data))
    return str(ds.SOPInstanceUID), bytes(ds.PixelData)


def _assert_held_exactly_once_with_equal_pixels(orthanc: Any, outbox: Outbox) -> None:
    held = [_pixels(orthanc.file(i)) for i in orthanc.instance_ids()]
    spooled = [
        _pixels(outbox.object_path(r.sop_instance_uid).read_bytes()) for r in outbox.records("web")
    ]
    assert sorted(held) == sorted(spooled)


def test_a_study_is_stored_then_committed_by_qido_with_equal_pixels(
    tmp_path: Path,
    orthanc: Any,
    dx: Callable[..., pydicom.Dataset],
    dciodvfy: Callable[[Path], tuple[list[str], list[str]]],
) -> None:
    datasets = [dx(seed) for seed in range(3)]
    outbox = _spool(tmp_path, datasets)
    errors, _ = dciodvfy(outbox.object_path(str(datasets[0].SOPInstanceUID)))
    assert errors == []
    unconfirmed = WebDestination(orthanc.url, commitment=False)
    worker = DestinationWorker(outbox, "web", unconfirmed, FAST, poll_s=0.1)
    try:
        worker.run_once()
        worker.run_once()
    finally:
        worker.stop()
    assert len(outbox.records("web", State.SENT)) == 3, "without commitment: sent is final"
    worker = DestinationWorker(outbox, "web", WebDestination(orthanc.url), FAST, poll_s=0.1)
    try:
        _deliver(worker, outbox, 3)
    finally:
        worker.stop()
    _assert_held_exactly_once_with_equal_pixels(orthanc, outbox)
    assert all(r.attempts == 0 for r in outbox.records("web"))


def test_an_instance_the_server_lost_before_confirmation_is_sent_again(
    tmp_path: Path, orthanc: Any, dx: Callable[..., pydicom.Dataset]
) -> None:
    datasets = [dx(seed) for seed in range(2)]
    outbox = _spool(tmp_path, datasets)
    unconfirmed = WebDestination(orthanc.url, commitment=False)
    worker = DestinationWorker(outbox, "web", unconfirmed, FAST, poll_s=0.1)
    try:
        worker.run_once()
    finally:
        worker.stop()
    assert len(outbox.records("web", State.SENT)) == 2
    lost = orthanc.instance_ids()[0]
    lost_uid = orthanc.rest(f"/instances/{lost}/simplified-tags")["SOPInstanceUID"]
    orthanc.rest(f"/instances/{lost}", method="DELETE")
    destination = WebDestination(orthanc.url)
    worker = DestinationWorker(outbox, "web", destination, FAST, poll_s=0.1, commit_timeout_s=0.5)
    try:
        worker.run_once()  # the one still held is committed, the lost one waits
        states = {r.sop_instance_uid: r.state for r in outbox.records("web")}
        assert states[lost_uid] is State.SENT
        assert list(states.values()).count(State.COMMITTED) == 1
        _deliver(worker, outbox, 2)
    finally:
        worker.stop()
    _assert_held_exactly_once_with_equal_pixels(orthanc, outbox)


def test_a_study_above_the_part_limit_goes_in_several_requests(
    tmp_path: Path,
    orthanc: Any,
    dx: Callable[..., pydicom.Dataset],
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = dx(0)
    datasets = [first]
    for seed in range(1, 7):  # one study, seven instances
        ds = dx(seed)
        ds.StudyInstanceUID = first.StudyInstanceUID
        datasets.append(ds)
    outbox = _spool(tmp_path, datasets)
    destination = WebDestination(orthanc.url, max_parts=3)
    worker = DestinationWorker(outbox, "web", destination, FAST, poll_s=0.1)
    caplog.set_level(logging.INFO, logger="panelgate.gateway.dicomweb")
    try:
        _deliver(worker, outbox, 7)
    finally:
        worker.stop()
    requests = [r for r in caplog.records if r.getMessage().startswith("STOW-RS of")]
    assert [r.args[0] for r in requests] == [3, 3, 1]  # type: ignore[index]
    _assert_held_exactly_once_with_equal_pixels(orthanc, outbox)
    studies = orthanc.rest("/studies")
    assert len(studies) == 1


def test_orthanc_killed_and_restarted_during_a_large_stow(
    tmp_path: Path, orthanc: Any, dx: Callable[..., pydicom.Dataset]
) -> None:
    """The outbox retries; every instance ends committed exactly once with equal content."""
    n = 12
    datasets = [dx(seed, size=1024) for seed in range(n)]  # 2 MB each
    outbox = _spool(tmp_path, datasets)
    destination = WebDestination(orthanc.url, max_parts=3, idle_s=30)
    worker = DestinationWorker(
        outbox, "web", destination, FAST, poll_s=0.1, rng=random.Random(1)
    ).start()
    killed = threading.Event()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill while the study is on its way
            stored = int(orthanc.rest("/statistics")["CountInstances"])
            if 0 < stored < n:
                orthanc.kill()
                killed.set()
                break
            time.sleep(0.005)
        assert killed.is_set(), "Orthanc was not caught with part of the study"
        time.sleep(1.0)  # down long enough for the worker to find it so
        orthanc.start()
        deadline = time.monotonic() + 180
        while len(outbox.records("web", State.COMMITTED)) < n and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.stop(timeout_s=60)
    assert len(outbox.records("web", State.COMMITTED)) == n, outbox.counts()
    assert any(r.attempts > 0 for r in outbox.records("web")), "no request failed"
    _assert_held_exactly_once_with_equal_pixels(orthanc, outbox)
    assert sorted(orthanc.sop_uids()) == sorted(str(d.SOPInstanceUID) for d in datasets)


def test_basic_credentials_reach_orthanc_and_never_the_log(
    tmp_path: Path,
    require_peer: Callable[[str], str],
    get_free_port: Callable[[], int],
    dx: Callable[..., pydicom.Dataset],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "pa55-Wr0ng-or-right"
    with peers.orthanc_web(require_peer, get_free_port, users={"alice": password}) as orthanc:
        outbox = _spool(tmp_path, [dx(1)])
        wrong = WebDestination(orthanc.url, credentials=Credentials("basic", "nope!", "alice"))
        worker = DestinationWorker(outbox, "web", wrong, FAST, poll_s=0.1)
        try:
            worker.run_once()
        finally:
            worker.stop()
        (record,) = outbox.records("web")
        assert record.state is State.PENDING and "HTTP 401" in record.reason
        right = WebDestination(orthanc.url, credentials=Credentials("basic", password, "alice"))
        worker = DestinationWorker(outbox, "web", right, FAST, poll_s=0.1)
        try:
            time.sleep(FAST.max_s)  # past the backoff of the refused attempt
            _deliver(worker, outbox, 1)
        finally:
            worker.stop()
        assert len(orthanc.instance_ids()) == 1
    assert password not in caplog.text and "nope!" not in caplog.text
    assert "cGE1" not in caplog.text  # nor their base64 (Basic header)


def test_https_with_a_ca_file(
    tmp_path: Path,
    orthanc: Any,
    require_peer: Callable[[str], str],
    dx: Callable[..., pydicom.Dataset],
) -> None:
    certs = peers.make_certs(tmp_path, require_peer)
    with peers.tls_relay(certs["server_pem"], certs["server_key"], orthanc.http_port) as port:
        url = f"https://127.0.0.1:{port}/dicom-web"
        outbox = _spool(tmp_path, [dx(2)])
        untrusted = WebDestination(url)  # the system's CAs do not know ours
        worker = DestinationWorker(outbox, "web", untrusted, FAST, poll_s=0.1)
        try:
            worker.run_once()
        finally:
            worker.stop()
        (record,) = outbox.records("web")
        assert record.state is State.PENDING and "CERTIFICATE_VERIFY_FAILED" in record.reason
        trusted = WebDestination(url, tls=TlsConfig(certs["ca"]))
        worker = DestinationWorker(outbox, "web", trusted, FAST, poll_s=0.1)
        try:
            time.sleep(FAST.max_s)
            _deliver(worker, outbox, 1)
        finally:
            worker.stop()
    _assert_held_exactly_once_with_equal_pixels(orthanc, outbox)

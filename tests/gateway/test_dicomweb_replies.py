"""How the outbox settles each STOW-RS reply, against a crafted server (PS3.18 10.5.3).

Orthanc cannot be made to answer 202, 409 or 5xx on purpose, so a small Starlette app
under uvicorn on 127.0.0.1 (``dicomweb_peers.StowStub``) replies what each case needs and
records what it received; the delivery is the real worker over a real outbox.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pydicom
import pytest
from starlette.responses import StreamingResponse

from panelgate.gateway.dicomweb import Credentials, WebDestination
from panelgate.gateway.outbox import DestinationWorker, Outbox, RetryPolicy, State
from panelgate.gateway.pacs.audit import MINOR_FAILURE, SERIOUS_FAILURE, SUCCESS, AuditTrail

pytestmark = pytest.mark.timeout(120)


def _load_peers() -> Any:
    path = Path(__file__).with_name("dicomweb_peers.py")
    spec = importlib.util.spec_from_file_location("_dicomweb_peers_replies", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


peers = _load_peers()
Reply = peers.Reply
POLICY = RetryPolicy(initial_s=60.0, max_s=60.0)  # no second attempt within a test


def _outbox(tmp_path: Path, dx: Callable[..., pydicom.Dataset]) -> tuple[Outbox, list[str]]:
    outbox = Outbox(tmp_path / "outbox", ["web"], reserve_bytes=0)
    uids = []
    for seed in range(2):
        ds = dx(seed)
        outbox.enqueue_dataset(ds)
        uids.append(str(ds.SOPInstanceUID))
    return outbox, uids


def _xml(stored: list[str], failed: dict[str, int]) -> bytes:
    def item(n: int, uid: str, reason: int | None) -> str:
        code = (
            f'<DicomAttribute tag="00081197" vr="US"><Value number="1">{reason}</Value>'
            "</DicomAttribute>"
            if reason is not None
            else ""
        )
        return (
            f'<Item number="{n}"><DicomAttribute tag="00081155" vr="UI"><Value number="1">'
            f"{uid}</Value></DicomAttribute>{code}</Item>"
        )

    refs = "".join(item(i + 1, u, None) for i, u in enumerate(stored))
    fails = "".join(item(i + 1, u, r) for i, (u, r) in enumerate(failed.items()))
    return (
        '<?xml version="1.0"?><NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/'
        f'NativeDICOM"><DicomAttribute tag="00081198" vr="SQ">{fails}</DicomAttribute>'
        f'<DicomAttribute tag="00081199" vr="SQ">{refs}</DicomAttribute></NativeDicomModel>'
    ).encode()


def _one_round(
    outbox: Outbox, stub: Any, audit: AuditTrail | None = None, **options: Any
) -> DestinationWorker:
    destination = WebDestination(stub.url, commitment=False, **options)
    worker = DestinationWorker(outbox, "web", destination, POLICY, poll_s=0.05, audit=audit)
    try:
        worker.run_once()
    finally:
        worker.stop()
    return worker


# (status, which instances are listed as stored / failed with which reason, content type)
CASES = {
    "200 all stored": (200, [0, 1], {}, "json"),
    "202 one out of resources": (202, [0], {1: 0xA700}, "json"),
    "202 as XML": (202, [1], {0: 0xA700}, "xml"),
    "409 one refused, one busy": (409, [], {0: 0xC000, 1: 0xA700}, "json"),
    "200 one not mentioned": (200, [0], {}, "json"),
    "409 SOP class not supported": (409, [], {0: 0x0122, 1: 0x0122}, "json"),
}
EXPECTED = {
    "200 all stored": [State.SENT, State.SENT],
    "202 one out of resources": [State.SENT, State.PENDING],
    "202 as XML": [State.PENDING, State.SENT],
    "409 one refused, one busy": [State.FAILED, State.PENDING],
    "200 one not mentioned": [State.SENT, State.PENDING],
    "409 SOP class not supported": [State.FAILED, State.FAILED],
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_instance_is_settled_from_the_reply(
    case: str,
    tmp_path: Path,
    get_free_port: Callable[[], int],
    dx: Callable[..., pydicom.Dataset],
) -> None:
    status, stored, failed, kind = CASES[case]
    outbox, uids = _outbox(tmp_path, dx)
    ok = [uids[i] for i in stored]
    bad = {uids[i]: reason for i, reason in failed.items()}
    if kind == "xml":
        reply = Reply(status, _xml(ok, bad), "application/dicom+xml")
    else:
        reply = Reply(status, peers.stow_json(ok, bad))
    with peers.stow_stub(get_free_port, reply) as stub:
        _one_round(outbox, stub)
    (request,) = stub.received
    assert request.parts == 2 and request.path == "/dicom-web/studies"
    records = {r.sop_instance_uid: r for r in outbox.records("web")}
    assert [records[u].state for u in uids] == EXPECTED[case]
    for uid, reason in bad.items():
        assert f"0x{reason:04X}" in records[uid].reason
        assert f"HTTP {status}" in records[uid].reason
    assert all(records[u].attempts == 0 for u in ok)


@pytest.mark.parametrize(
    ("reply", "state", "words"),
    [
        (Reply(503, b"busy", "text/plain"), State.PENDING, "HTTP 503"),
        (Reply(500), State.PENDING, "HTTP 500"),
        (Reply(409), State.PENDING, "HTTP 409"),  # none stored, none named: retry
        (Reply(429), State.PENDING, "HTTP 429"),
        (Reply(401), State.PENDING, "credentials refused"),
        (Reply(400, b"bad", "text/plain"), State.FAILED, "HTTP 400"),
        (Reply(404), State.FAILED, "check the URL"),
        (Reply(200, b"<html>", "text/html"), State.PENDING, "not mentioned"),
    ],
)
def test_a_reply_naming_no_instance_settles_the_whole_request(
    reply: Any,
    state: State,
    words: str,
    tmp_path: Path,
    get_free_port: Callable[[], int],
    dx: Callable[..., pydicom.Dataset],
) -> None:
    outbox, _ = _outbox(tmp_path, dx)
    with peers.stow_stub(get_free_port, reply) as stub:
        worker = _one_round(outbox, stub)
        if state is State.PENDING and reply.status != 200:  # the destination backs off
            assert worker.run_once() == 0
    # refused for good: each instance is then tried alone (poison isolation)
    assert [r.parts for r in stub.received] == ([2, 1, 1] if state is State.FAILED else [2])
    records = outbox.records("web")
    assert [r.state for r in records] == [state, state]
    assert all(words in r.reason and r.attempts == 1 for r in records)


def test_transfers_are_audited_like_c_stores(
    tmp_path: Path, get_free_port: Callable[[], int], dx: Callable[..., pydicom.Dataset]
) -> None:
    outbox, uids = _outbox(tmp_path, dx)
    audit = tmp_path / "audit.jsonl"
    body = peers.stow_json([uids[0]], {uids[1]: 0xC000})
    with peers.stow_stub(get_free_port, Reply(409, body), Reply(503)) as stub:
        _one_round(outbox, stub, AuditTrail(audit))
        outbox.retry("web")  # the refused one back, to meet the 503
        _one_round(outbox, stub, AuditTrail(audit))
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    got = [(e["outcome"], e["instances"], e["remote_host"]) for e in events]
    assert got == [
        (SUCCESS, [uids[0]], "127.0.0.1"),
        (MINOR_FAILURE, [uids[1]], "127.0.0.1"),
        (SERIOUS_FAILURE, [uids[1]], "127.0.0.1"),  # a request that failed as a whole
    ]
    assert "HTTP 503" in events[2]["detail"]


def test_a_poison_instance_charges_only_itself(
    tmp_path: Path, get_free_port: Callable[[], int], dx: Callable[..., pydicom.Dataset]
) -> None:
    outbox, uids = _outbox(tmp_path, dx)
    poison = uids[0].encode()

    def reply(request: Any, body: bytes) -> Any:
        if body.count(b"Content-Type: application/dicom") > 1 or poison in body:
            return Reply(400, b"cannot parse", "text/plain")
        return Reply(200, peers.stow_json([uids[1]], {}))

    with peers.stow_stub(get_free_port, reply) as stub:
        _one_round(outbox, stub)
    assert [r.parts for r in stub.received] == [2, 1, 1]
    records = {r.sop_instance_uid: r for r in outbox.records("web")}
    assert records[uids[0]].state is State.FAILED and "HTTP 400" in records[uids[0]].reason
    assert records[uids[1]].state is State.SENT and records[uids[1]].attempts == 0


@pytest.mark.parametrize("retry_after", ["", "120"])
def test_retry_after_holds_the_destination_back(
    retry_after: str,
    tmp_path: Path,
    get_free_port: Callable[[], int],
    dx: Callable[..., pydicom.Dataset],
) -> None:
    outbox, uids = _outbox(tmp_path, dx)
    busy = Reply(503, headers={"Retry-After": retry_after} if retry_after else {})
    policy = RetryPolicy(initial_s=0.01, max_s=600.0)  # alone, it would retry at once
    with peers.stow_stub(get_free_port, busy, Reply(200, peers.stow_json(uids, {}))) as stub:
        destination = WebDestination(stub.url, commitment=False)
        worker = DestinationWorker(outbox, "web", destination, policy, poll_s=0.05)
        try:
            worker.run_once()
            time.sleep(0.5)  # far past the policy's delay, far before Retry-After
            worker.run_once()
        finally:
            worker.stop()
    states = [r.state for r in outbox.records("web")]
    if retry_after:
        assert len(stub.received) == 1 and states == [State.PENDING, State.PENDING]
    else:
        assert len(stub.received) == 2 and states == [State.SENT, State.SENT]


def test_a_warning_is_stored_with_its_reason(
    tmp_path: Path, get_free_port: Callable[[], int], dx: Callable[..., pydicom.Dataset]
) -> None:
    outbox, uids = _outbox(tmp_path, dx)
    body = peers.stow_json(uids, {}, warnings={uids[1]: 0xB000})
    with peers.stow_stub(get_free_port, Reply(202, body)) as stub:
        _one_round(outbox, stub)
    records = {r.sop_instance_uid: r for r in outbox.records("web")}
    assert [records[u].state for u in uids] == [State.SENT, State.SENT]
    assert records[uids[0]].reason == ""
    assert "0xB000" in records[uids[1]].reason and "coercion" in records[uids[1]].reason


def test_bearer_token_reaches_the_server_and_never_the_log(
    tmp_path: Path,
    get_free_port: Callable[[], int],
    dx: Callable[..., pydicom.Dataset],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "eyJ-very-secret-bearer"
    outbox, uids = _outbox(tmp_path, dx)
    with peers.stow_stub(get_free_port, Reply(200, peers.stow_json(uids, {}))) as stub:
        _one_round(outbox, stub, credentials=Credentials("bearer", token))
    (request,) = stub.received
    assert request.headers["authorization"] == f"Bearer {token}"
    assert request.headers["content-type"].startswith('multipart/related; type="application/dicom"')
    assert int(request.headers["content-length"]) == request.body_bytes
    assert "chunked" not in request.headers.get("transfer-encoding", "")
    assert [r.state for r in outbox.records("web")] == [State.SENT, State.SENT]
    assert token not in caplog.text
    assert "PID-SECRET" not in caplog.text and "Doe^Jane" not in caplog.text  # no patient data


def test_instances_above_the_part_limit_go_in_several_requests(
    tmp_path: Path, get_free_port: Callable[[], int], dx: Callable[..., pydicom.Dataset]
) -> None:
    outbox = Outbox(tmp_path / "outbox", ["web"], reserve_bytes=0)
    uids = []
    for seed in range(5):
        ds = dx(seed)
        outbox.enqueue_dataset(ds)
        uids.append(str(ds.SOPInstanceUID))
    with peers.stow_stub(get_free_port, Reply(200, peers.stow_json(uids, {}))) as stub:
        _one_round(outbox, stub, max_parts=2)
    assert [r.parts for r in stub.received] == [2, 2, 1]
    assert all(r.state is State.SENT for r in outbox.records("web"))


def _slow_reply(gap_s: float, count: int, body: bytes) -> Callable[..., StreamingResponse]:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(count):
            await asyncio.sleep(gap_s)
            yield b" "  # JSON allows leading white space
        yield body

    return lambda request, received: StreamingResponse(
        chunks(), 200, media_type="application/dicom+json"
    )


def test_idle_timeout_lets_a_slow_but_moving_reply_finish_and_stops_a_silent_one(
    tmp_path: Path, get_free_port: Callable[[], int], dx: Callable[..., pydicom.Dataset]
) -> None:
    outbox, uids = _outbox(tmp_path, dx)
    moving = _slow_reply(0.1, 30, peers.stow_json(uids, {}))  # 3 s in all, never 2 s idle
    with peers.stow_stub(get_free_port, moving) as stub:
        _one_round(outbox, stub, idle_s=2.0)
    assert [r.state for r in outbox.records("web")] == [State.SENT, State.SENT]

    outbox, uids = _outbox(tmp_path / "second", dx)
    silent = _slow_reply(3.0, 1, peers.stow_json(uids, {}))  # 3 s without a byte
    with peers.stow_stub(get_free_port, silent) as stub:
        _one_round(outbox, stub, idle_s=0.5)
    records = outbox.records("web")
    assert [r.state for r in records] == [State.PENDING, State.PENDING]
    assert all("no progress" in r.reason for r in records)

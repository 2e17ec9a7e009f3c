"""DICOMweb building blocks without a server: the streamed body, the response, the URL rules."""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import email.utils
import json
import tracemalloc
from pathlib import Path

import httpx
import pytest

from panelgate.gateway.dicomweb import (
    Credentials,
    MultipartBody,
    WebDestination,
    parse_stow_response,
    url_problem,
)
from panelgate.gateway.dicomweb.http import http_error
from panelgate.gateway.errors import DeliveryError
from panelgate.gateway.pacs.status import Outcome

_BOUNDARY = "b0undary"


def _parts(body: MultipartBody) -> list[bytes]:
    raw = b"".join(body.chunks())
    assert len(raw) == body.content_length
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + body.content_type.encode() + b"\r\n\r\n" + raw
    )
    parts = list(message.iter_parts())
    assert all(p.get_content_type() == "application/dicom" for p in parts)
    return [p.get_payload(decode=True) for p in parts]


def test_multipart_body_holds_each_file_exactly_and_its_length_is_known_first(
    tmp_path: Path,
) -> None:
    contents = [b"", b"\r\n--b0undary\r\n" * 3, bytes(range(256)) * 1000, b"x"]
    paths = []
    for i, data in enumerate(contents):
        paths.append(tmp_path / f"{i}.dcm")
        paths[-1].write_bytes(data)
    body = MultipartBody(paths, block_bytes=1000, boundary="7f" * 16)
    assert _parts(body) == contents
    assert 'type="application/dicom"' in body.content_type


def test_multipart_body_is_read_in_blocks_not_whole(tmp_path: Path) -> None:
    big = tmp_path / "big.dcm"
    big.write_bytes(b"\0" * 40_000_000)
    body = MultipartBody([big], block_bytes=1 << 20)
    tracemalloc.start()
    try:
        total = sum(len(chunk) for chunk in body.chunks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == body.content_length
    assert peak < 8_000_000, f"peak {peak} bytes held while streaming a 40 MB file"


def test_a_file_that_changes_size_while_sent_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "a.dcm"
    path.write_bytes(b"a" * 100)
    body = MultipartBody([path], block_bytes=10)
    chunks = body.chunks()
    next(chunks)
    path.write_bytes(b"a" * 50)
    with pytest.raises(DeliveryError, match="changed size") as err:
        list(chunks)
    assert not err.value.retryable


def _json_response(stored: dict[str, int | None], failed: dict[str, int | None]) -> bytes:
    def item(uid: str, tag: str, code: int | None) -> dict[str, object]:
        entry: dict[str, object] = {"00081155": {"vr": "UI", "Value": [uid]}}
        if code is not None:
            entry[tag] = {"vr": "US", "Value": [code]}
        return entry

    return json.dumps(
        {
            "00081190": {"vr": "UR", "Value": ["http://127.0.0.1/dicom-web/studies/1.2"]},
            "00081199": {"vr": "SQ", "Value": [item(u, "00081196", c) for u, c in stored.items()]},
            "00081198": {"vr": "SQ", "Value": [item(u, "00081197", c) for u, c in failed.items()]},
        }
    ).encode()


def _xml_response(stored: dict[str, int | None], failed: dict[str, int | None]) -> bytes:
    def item(n: int, uid: str, tag: str, code: int | None) -> str:
        reason = (
            f'<DicomAttribute tag="{tag}" vr="US"><Value number="1">{code}</Value></DicomAttribute>'
            if code is not None
            else ""
        )
        return (
            f'<Item number="{n}"><DicomAttribute tag="00081155" vr="UI">'
            f'<Value number="1">{uid}</Value></DicomAttribute>{reason}</Item>'
        )

    refs = "".join(item(i + 1, u, "00081196", c) for i, (u, c) in enumerate(stored.items()))
    fails = "".join(item(i + 1, u, "00081197", c) for i, (u, c) in enumerate(failed.items()))
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">'
        '<DicomAttribute tag="00081190" vr="UR"><Value number="1">http://h/s</Value>'
        "</DicomAttribute>"
        f'<DicomAttribute tag="00081198" vr="SQ">{fails}</DicomAttribute>'
        f'<DicomAttribute tag="00081199" vr="SQ">{refs}</DicomAttribute>'
        "</NativeDicomModel>"
    ).encode()


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [("application/dicom+json", _json_response), ("application/dicom+xml", _xml_response)],
)
def test_each_instance_is_classified_like_its_c_store_status(content_type, encode) -> None:  # type: ignore[no-untyped-def]
    stored = {"1.1": None, "1.2": 0xB000}
    failed = {"1.3": 0xA700, "1.4": 0xC000, "1.5": None, "1.6": 0x0000, "1.7": 0x0122}
    response = parse_stow_response(content_type, encode(stored, failed))
    got = {uid: response.outcome(uid)[0] for uid in [*stored, *failed, "1.9"]}
    assert got == {
        "1.1": Outcome.SUCCESS,
        "1.2": Outcome.WARNING,
        "1.3": Outcome.RETRY,  # out of resources
        "1.4": Outcome.FAIL,  # cannot understand
        "1.5": Outcome.RETRY,  # failed without a reason: never success
        "1.6": Outcome.RETRY,  # "failed" with a success code: never success
        "1.7": Outcome.FAIL,  # SOP class not supported
        "1.9": Outcome.RETRY,  # not mentioned
    }
    assert "0xB000" in response.outcome("1.2")[1]
    assert "0xA700" in response.outcome("1.3")[1]
    assert response.retrieve_url


def test_an_unreadable_response_is_refused() -> None:
    with pytest.raises(ValueError, match="DICOM JSON"):
        parse_stow_response("application/dicom+json", b"<html>busy</html>")
    with pytest.raises(ValueError, match="Native DICOM"):
        parse_stow_response("application/dicom+xml", b"{}")
    assert parse_stow_response("application/dicom+json", b"").outcome("1")[0] is Outcome.RETRY


@pytest.mark.parametrize(
    ("url", "tls", "problem"),
    [
        ("http://127.0.0.1:8042/dicom-web", False, None),
        ("http://localhost/dicom-web/", False, None),
        ("http://[::1]:80/x", False, None),
        ("https://pacs.example.org/dicom-web", True, None),
        ("https://pacs.example.org/dicom-web", False, None),
        ("http://pacs.example.org/dicom-web", False, "not this machine"),
        ("http://10.0.0.5/dicom-web", False, "not this machine"),
        ("http://127.0.0.1/dicom-web", True, "CA file"),
        ("ftp://127.0.0.1/x", False, "http:// or https://"),
        ("127.0.0.1:8042", False, "http:// or https://"),
        ("https:///x", False, "no host"),
        ("https://user:pw@pacs.example.org/x", False, "user name or password"),
        ("https://pacs.example.org/x?token=1", False, "query"),
        ("http://127.0.0.1:99999/x", False, "not a valid URL"),
    ],
)
def test_url_rules(url: str, tls: bool, problem: str | None) -> None:
    got = url_problem(url, tls=tls)
    assert (got is None) if problem is None else (got is not None and problem in got), got


def test_secrets_are_masked_in_repr() -> None:
    bearer = Credentials("bearer", "s3cr3t-token")
    basic = Credentials("basic", "pa55word", "alice")
    dest = WebDestination("http://127.0.0.1:1/dicom-web/", credentials=basic)
    for text in (repr(bearer), repr(basic), repr(dest), str(dest)):
        assert "s3cr3t" not in text and "pa55" not in text
    assert "alice" in repr(basic)
    assert dest.url == "http://127.0.0.1:1/dicom-web" and dest.host == "127.0.0.1"
    with pytest.raises(ValueError, match="non-empty secret"):
        Credentials("bearer", "")
    with pytest.raises(ValueError, match="not this machine"):
        WebDestination("http://192.0.2.1/dicom-web")


@pytest.mark.parametrize(
    ("header", "expected"),
    [("120", 120.0), ("", None), ("soon", None), ("in-the-past", 0.0), ("in-a-minute", 60.0)],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    header: str, expected: float | None
) -> None:
    now = dt.datetime.now(dt.UTC)
    dates = {
        "in-the-past": now - dt.timedelta(hours=1),
        "in-a-minute": now + dt.timedelta(seconds=60),
    }
    if header in dates:
        header = email.utils.format_datetime(dates[header], usegmt=True)
    headers = {"Retry-After": header} if header else {}
    response = httpx.Response(503, headers=headers)
    error = http_error(WebDestination("http://127.0.0.1:1/x"), response, "STOW-RS")
    assert error.retryable and error.status_code == 503
    if expected is None:
        assert error.retry_after_s is None
    else:
        assert error.retry_after_s == pytest.approx(expected, abs=2.0)

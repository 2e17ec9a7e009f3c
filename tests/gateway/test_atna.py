"""The audit trail as IHE ATNA messages (PS3.15 A.5) to a real syslog collector over TLS.

The collector is Debian's rsyslogd with its gtls driver (RFC 5425) on 127.0.0.1, writing
each received message as it came; the tests parse what it wrote.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from panelgate.acquisition.agent import Agent
from panelgate.acquisition.config import ConfigError, parse_config
from panelgate.gateway.atna import AuditSource, SyslogForwarder, SyslogTarget, audit_message
from panelgate.gateway.outbox import State
from panelgate.gateway.pacs.audit import AuditTrail

SOURCE = AuditSource("PANELGATE", "Radiology")
DX = "1.2.840.10008.5.1.4.1.1.1.1"


def _codes(root: ET.Element, tag: str) -> list[str]:
    return [e.attrib["csd-code"] for e in root.iter(tag)]


def test_instances_transferred_message_names_participants_and_instances() -> None:
    event = {
        "time": "2026-11-30T10:00:00.000+00:00",
        "event": "instances-transferred",
        "outcome": 0,
        "local_ae": "PANELGATE",
        "remote_ae": "ORTHANC",
        "remote_host": "127.0.0.1",
        "instances": ["1.2.3.1", "1.2.3.2"],
        "sop_classes": {"1.2.3.1": DX, "1.2.3.2": DX},
    }
    xml = audit_message(event, SOURCE)
    assert xml is not None
    root = ET.fromstring(xml)
    ident = root.find("EventIdentification")
    assert ident is not None
    assert ident.attrib["EventOutcomeIndicator"] == "0"
    assert _codes(root, "EventID") == ["110104"]
    roles = {
        p.attrib["UserID"]: p.find("RoleIDCode").attrib["csd-code"]  # type: ignore[union-attr]
        for p in root.iter("ActiveParticipant")
    }
    assert roles == {"PANELGATE": "110153", "ORTHANC": "110152"}
    (sop,) = root.iter("SOPClass")
    assert sop.attrib == {"UID": DX, "NumberOfInstances": "2"}
    assert [i.attrib["UID"] for i in sop.iter("Instance")] == ["1.2.3.1", "1.2.3.2"]
    src = root.find("AuditSourceIdentification")
    assert src is not None and src.attrib["AuditSourceID"] == "PANELGATE"


@pytest.mark.parametrize(
    ("event", "event_id", "event_type"),
    [
        ("application-start", "110100", "110120"),
        ("application-stop", "110100", "110121"),
        ("user-login", "110114", "110122"),
        ("association-rejected", "110113", "110126"),
        ("worklist-query", "110112", None),
    ],
)
def test_each_event_kind_gets_its_coded_message(
    event: str, event_id: str, event_type: str | None
) -> None:
    xml = audit_message({"time": "2026-11-30T10:00:00+00:00", "event": event, "outcome": 4}, SOURCE)
    assert xml is not None
    root = ET.fromstring(xml)
    assert _codes(root, "EventID") == [event_id]
    assert _codes(root, "EventTypeCode") == ([event_type] if event_type else [])
    assert root.find("EventIdentification").attrib["EventOutcomeIndicator"] == "4"  # type: ignore[union-attr]


def test_events_without_an_atna_message_are_not_sent() -> None:
    assert (
        audit_message({"time": "2026-11-30T10:00:00+00:00", "event": "procedure-step"}, SOURCE)
        is None
    )


@dataclass
class Collector:
    port: int
    ca_file: Path
    received: Path
    restart: Callable[[], None]

    def messages(self, count: int, timeout_s: float = 30.0) -> list[bytes]:
        """The first ``count`` syslog messages the collector wrote (waits for them)."""
        deadline = time.monotonic() + timeout_s
        while True:
            data = self.received.read_bytes() if self.received.exists() else b""
            lines = [line for line in data.split(b"\n") if line]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.1)


@pytest.fixture
def collector(
    tmp_path: Path, require_peer: Callable[[str], str], get_free_port: Callable[[], int]
) -> Iterator[Collector]:
    """rsyslogd accepting RFC 5425 syslog over TLS on 127.0.0.1, writing raw messages."""
    rsyslogd, openssl = require_peer("rsyslogd"), require_peer("openssl")
    work = tmp_path / "rsyslog"
    work.mkdir()
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = get_free_port()
    received = work / "received.log"
    conf = work / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{work}" DefaultNetstreamDriver="gtls"\n'
        f'  DefaultNetstreamDriverCAFile="{cert}" DefaultNetstreamDriverCertFile="{cert}"\n'
        f'  DefaultNetstreamDriverKeyFile="{key}" maxMessageSize="64k")\n'
        'module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1"'
        ' StreamDriver.AuthMode="anon")\n'
        f'input(type="imtcp" port="{port}" address="127.0.0.1")\n'
        'template(name="raw" type="string" string="%rawmsg%\\n")\n'
        f'*.* action(type="omfile" file="{received}" template="raw")\n'
    )
    errors = work / "stderr"
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        with errors.open("ab") as err:
            procs.append(
                subprocess.Popen(
                    [rsyslogd, "-n", "-f", str(conf), "-i", str(work / "pid")],
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            )
        deadline = time.monotonic() + 20
        while True:
            try:
                subprocess.run(
                    [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-brief"],
                    input=b"", capture_output=True, timeout=5, check=True,
                )  # fmt: skip
                return
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline or procs[-1].poll() is not None:
                    procs[-1].kill()
                    pytest.fail(f"rsyslogd did not start: {errors.read_text()}")
                time.sleep(0.2)

    def stop() -> None:
        procs[-1].terminate()
        procs[-1].wait(timeout=10)

    def restart() -> None:
        stop()
        start()

    start()
    yield Collector(port, cert, received, restart)
    stop()


def _xml(message: bytes) -> ET.Element:
    header, _, body = message.partition(b"\xef\xbb\xbf")
    assert header.startswith(b"<8")  # facility 10 (authpriv): PRI 80 + severity
    assert b" IHE+RFC-3881 - " in header
    return ET.fromstring(body)


def test_forwarder_delivers_over_tls_and_survives_a_collector_restart(
    collector: Collector, tmp_path: Path
) -> None:
    forwarder = SyslogForwarder(
        SyslogTarget("127.0.0.1", collector.port, ca_file=collector.ca_file), SOURCE
    )
    trail = AuditTrail(tmp_path / "audit.jsonl", forwarder)
    trail.record("user-login", user="tech1", remote_host="127.0.0.1")
    trail.record("procedure-step", detail="N-CREATE IN PROGRESS")  # no ATNA message
    assert len(collector.messages(1)) == 1
    collector.restart()  # the forwarder's connection is now closed by the peer
    trail.record("association-rejected", outcome=8, local_ae="PANELGATE", remote_ae="INTRUDER")
    forwarder.close()
    messages = collector.messages(2)
    assert len(messages) == 2
    login, alert = (_xml(m) for m in messages)
    assert _codes(login, "EventTypeCode") == ["110122"]
    assert next(p.attrib["UserID"] for p in login.iter("ActiveParticipant")) == "tech1"
    assert messages[0].startswith(b"<85>")  # success: notice
    assert messages[1].startswith(b"<84>")  # failure: warning
    assert _codes(alert, "EventID") == ["110113"]
    assert len(trail.events()) == 3  # the JSON trail keeps every event


def test_forwarder_refuses_a_collector_it_cannot_verify(
    collector: Collector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other_ca = tmp_path / "other.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(tmp_path / "k.pem"), "-out", str(other_ca), "-subj", "/CN=other"],
        check=True, capture_output=True,
    )  # fmt: skip
    forwarder = SyslogForwarder(SyslogTarget("127.0.0.1", collector.port, ca_file=other_ca), SOURCE)
    AuditTrail(None, forwarder).record("user-login", user="tech1")
    forwarder.close(timeout_s=2.0)
    assert forwarder.sent == 0
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    assert collector.messages(1, timeout_s=1.0) == []


def test_agent_sends_atna_messages_for_its_life_and_its_transfers(
    collector: Collector,
    tmp_path: Path,
    require_peer: Callable[[str], str],
    get_free_port: Callable[[], int],
    wait_listening: Callable[[int], None],
    dx: Callable[..., pydicom.Dataset],
) -> None:
    port = get_free_port()
    scp = subprocess.Popen(
        [require_peer("storescp"), "-od", str(tmp_path), "-aet", "STORESCP", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_listening(port)  # before the agent's first association
    config = parse_config(
        {
            "outbox": {"directory": str(tmp_path / "outbox"), "reserve_mb": 0, "poll_s": 0.1},
            "destinations": {"pacs": {"port": port, "called_ae": "STORESCP"}},
            "audit": {
                "syslog_host": "127.0.0.1",
                "syslog_port": collector.port,
                "tls_ca_file": str(collector.ca_file),
                "site_id": "Radiology",
            },
        }
    )
    ds = dx(seed=1)
    agent = Agent(config).start()
    try:
        agent.enqueue(ds)
        deadline = time.monotonic() + 60
        while not agent.outbox.records("pacs", State.SENT) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        agent.stop()
        scp.terminate()
        scp.wait(timeout=10)
    roots = [_xml(m) for m in collector.messages(3)]
    assert [_codes(r, "EventID")[0] for r in roots] == ["110100", "110104", "110100"]
    transfer = roots[1]
    assert transfer.find("EventIdentification").attrib["EventOutcomeIndicator"] == "0"  # type: ignore[union-attr]
    assert [i.attrib["UID"] for i in transfer.iter("Instance")] == [ds.SOPInstanceUID]
    text = b"".join(ET.tostring(r) for r in roots)
    assert str(ds.PatientID).encode() not in text
    assert str(ds.PatientName).encode() not in text
    assert (
        dt.datetime.fromisoformat(
            roots[0].find("EventIdentification").attrib["EventDateTime"]  # type: ignore[union-attr]
        ).tzinfo
        is not None
    )


def test_audit_config_requires_tls() -> None:
    with pytest.raises(ConfigError, match=r"\[audit\] tls_ca_file"):
        parse_config({"audit": {"syslog_host": "127.0.0.1"}})

"""Security: DICOM over TLS both ways, the listener's calling-AE allow-list, the audit trail."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    DigitalXRayImageStorageForPresentation,
    StorageCommitmentPushModel,
)

from panelgate.gateway.outbox import DestinationWorker, Outbox, RetryPolicy, State
from panelgate.gateway.pacs import AuditTrail, CommitmentResult, Destination, Listener, TlsConfig

# A refused or aborted TLS handshake leaves pynetdicom 3.0's socket to the garbage collector,
# which may close it during any later test of this module.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test CA and, signed by it, a server and a client certificate (EC P-256)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    d = tmp_path_factory.mktemp("certs")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=panelgate test CA", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "san.ext",
                 cwd=d)  # fmt: skip
    return {p.stem + p.suffix.replace(".", "_"): p for p in d.iterdir()}


def _tls(certs: dict[str, Path], side: str) -> TlsConfig:
    return TlsConfig(certs["ca_pem"], certs[f"{side}_pem"], certs[f"{side}_key"])


def _commitment_report(uid: str) -> Dataset:
    info = Dataset()
    info.TransactionUID = "1.2.3.4"
    item = Dataset()
    item.ReferencedSOPClassUID = DigitalXRayImageStorageForPresentation
    item.ReferencedSOPInstanceUID = uid
    info.ReferencedSOPSequence = [item]
    return info


def _report(port: int, calling_ae: str, tls: TlsConfig | None) -> Any:
    """Act as a PACS: open an association to the listener and send a commitment result."""
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(StorageCommitmentPushModel)
    ae.acse_timeout = ae.network_timeout = 5
    role = SCP_SCU_RoleSelectionNegotiation()
    role.sop_class_uid = StorageCommitmentPushModel
    role.scu_role, role.scp_role = False, True
    kwargs: dict[str, Any] = {"ext_neg": [role], "ae_title": "AGENT"}
    if tls is not None:
        kwargs["tls_args"] = (tls.client_context(), "127.0.0.1")
    assoc = ae.associate("127.0.0.1", port, **kwargs)
    if not assoc.is_established:
        return None
    status = assoc.send_n_event_report(
        _commitment_report("1.2.3.4.5"), 1, StorageCommitmentPushModel,
        "1.2.840.10008.1.20.1.1",
    )[0]  # fmt: skip
    assoc.release()
    return status


@pytest.fixture
def listener(tmp_path: Path, certs: dict[str, Path]) -> Iterator[tuple[Listener, list[Any]]]:
    results: list[CommitmentResult] = []
    server = Listener(
        "AGENT",
        results.append,
        allowed_calling_aes=["PACS"],
        tls=_tls(certs, "server"),
        audit=AuditTrail(tmp_path / "audit.jsonl"),
    ).start()
    yield server, results
    server.stop()


def test_tls_listener_takes_commitment_reports_from_allowed_aes_only(
    tmp_path: Path, certs: dict[str, Path], listener: tuple[Listener, list[Any]]
) -> None:
    server, results = listener
    status = _report(server.port, "PACS", _tls(certs, "client"))
    assert status is not None and status.Status == 0x0000
    assert results == [CommitmentResult("1.2.3.4", ("1.2.3.4.5",), {})]

    assert _report(server.port, "INTRUDER", _tls(certs, "client")) is None
    assert len(results) == 1
    audit = AuditTrail(tmp_path / "audit.jsonl").events()
    rejected = [e for e in audit if e["event"] == "association-rejected"]
    assert [(e["remote_ae"], e["outcome"]) for e in rejected] == [("INTRUDER", 8)]
    assert [e["event"] for e in audit].count("storage-commitment") == 1


def test_tls_listener_refuses_plain_tcp_and_unknown_certificates(
    tmp_path: Path, certs: dict[str, Path], listener: tuple[Listener, list[Any]]
) -> None:
    server, results = listener
    assert _report(server.port, "PACS", None) is None
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "k.pem", "-out", "c.pem", "-days", "2",
             "-subj", "/CN=stranger", cwd=stranger)  # fmt: skip
    # trusts the real CA (so it can check the server) but presents a self-signed certificate
    self_signed = TlsConfig(certs["ca_pem"], stranger / "c.pem", stranger / "k.pem")
    assert _report(server.port, "PACS", self_signed) is None
    assert results == []


def test_outbox_delivers_over_tls(tmp_path: Path, certs: dict[str, Path], dx: Any) -> None:
    received: list[str] = []
    ae = AE(ae_title="TLSPACS")
    ae.add_supported_context(DigitalXRayImageStorageForPresentation, ALL_TRANSFER_SYNTAXES)

    def on_store(event: Any) -> int:
        received.append(str(event.dataset.SOPInstanceUID))
        return 0

    server = ae.start_server(
        ("127.0.0.1", 0),
        block=False,
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
        ssl_context=_tls(certs, "server").server_context(),
    )
    try:
        port = int(server.server_address[1])
        destination = Destination(
            "127.0.0.1", port, called_ae="TLSPACS", calling_ae="AGENT", tls=_tls(certs, "client")
        )
        outbox = Outbox(tmp_path / "spool", ["tls"])
        ds: pydicom.Dataset = dx(3)
        outbox.enqueue_dataset(ds)
        worker = DestinationWorker(outbox, "tls", destination, RetryPolicy())
        worker.run_once()
        worker.stop()
    finally:
        server.shutdown()
    assert received == [ds.SOPInstanceUID]
    assert outbox.records()[0].state is State.SENT


def _tls_refusal(
    tmp_path: Path, server_ssl: Any, client_tls: TlsConfig, ds: pydicom.Dataset
) -> str:
    """Deliver one instance to a Storage SCP (TLS with ``server_ssl``, or plain); the reason."""
    ae = AE(ae_title="TLSPACS")
    ae.add_supported_context(DigitalXRayImageStorageForPresentation, ALL_TRANSFER_SYNTAXES)
    ae.acse_timeout = ae.network_timeout = 5
    server = ae.start_server(("127.0.0.1", 0), block=False, ssl_context=server_ssl)
    try:
        port = int(server.server_address[1])
        destination = Destination(
            "127.0.0.1", port, called_ae="TLSPACS", calling_ae="AGENT", tls=client_tls,
            connect_s=5,
        )  # fmt: skip
        outbox = Outbox(tmp_path / "spool", ["tls"])
        outbox.enqueue_dataset(ds)
        worker = DestinationWorker(outbox, "tls", destination, RetryPolicy())
        worker.run_once()
        worker.stop()
    finally:
        server.shutdown()
    (record,) = outbox.records()
    assert record.state is State.PENDING  # retried later: certificates can be fixed
    return record.reason


def _signed(certs: dict[str, Path], d: Path, san: str) -> TlsConfig:
    """A server certificate for ``san`` signed by the test CA."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (d / "san.ext").write_text(f"subjectAltName={san}\n")
    _openssl("req", *ec, "-keyout", "s.key", "-out", "s.csr", "-subj", "/CN=s", cwd=d)
    _openssl("x509", "-req", "-in", "s.csr", "-CA", str(certs["ca_pem"]),
             "-CAkey", str(certs["ca_key"]), "-CAcreateserial", "-out", "s.pem", "-days", "2",
             "-extfile", "san.ext", cwd=d)  # fmt: skip
    return TlsConfig(certs["ca_pem"], d / "s.pem", d / "s.key", require_client_cert=False)


def test_tls_failures_say_tls_and_why(
    tmp_path: Path, certs: dict[str, Path], caplog: pytest.LogCaptureFixture, dx: Any
) -> None:
    client = _tls(certs, "client")
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "k.pem", "-out", "c.pem", "-days", "2",
             "-subj", "/CN=stranger CA", cwd=stranger)  # fmt: skip
    distrustful = TlsConfig(stranger / "c.pem", certs["client_pem"], certs["client_key"])
    other_host = tmp_path / "other-host"
    other_host.mkdir()
    misnamed = _signed(certs, other_host, "DNS:pacs.elsewhere.example").server_context()
    server = _tls(certs, "server").server_context()

    with caplog.at_level(logging.WARNING, logger="panelgate"):
        untrusted = _tls_refusal(tmp_path / "1", server, distrustful, dx(8))
        mismatch = _tls_refusal(tmp_path / "2", misnamed, client, dx(8))
        plain = _tls_refusal(tmp_path / "3", None, client, dx(8))
    assert "TLS handshake" in untrusted and "certificate not trusted" in untrusted
    assert "TLS handshake" in mismatch and "host name mismatch" in mismatch
    assert "TLS handshake" in plain and "does not speak TLS" in plain
    for reason in (untrusted, mismatch, plain):
        assert "no TCP connection" not in reason
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum(w.startswith("TLS handshake with TLSPACS@127.0.0.1") for w in warnings) == 3

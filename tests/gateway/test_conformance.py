"""The conformance statement says what panelgate really negotiates with dcmtk peers.

Each SCU of panelgate (storage in every transfer syntax the builder can write, storage
commitment, worklist, MPPS) proposes its contexts to a dcmtk SCP started with ``-d``; the
A-ASSOCIATE-RQ it logs is parsed and compared with the statement's tables, both ways. On the
SCP side dcmtk's ``echoscu`` checks what the listener accepts. The committed
``docs/conformance-statement.md`` must be what ``panelgate conformance`` prints today.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import UID, ExplicitVRLittleEndian
from pynetdicom import AE, build_context
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    ModalityWorklistInformationFind,
    StorageCommitmentPushModel,
)

from panelgate.acquisition.commands.conformance import statement
from panelgate.gateway import conformance
from panelgate.gateway.dicom import StudyContext
from panelgate.gateway.dicom.build import DX_FOR_PROCESSING
from panelgate.gateway.dicom.compress import LOSSLESS, compress_lossless
from panelgate.gateway.errors import DeliveryError
from panelgate.gateway.pacs import Destination
from panelgate.gateway.pacs.audit import AuditTrail
from panelgate.gateway.pacs.listener import Listener
from panelgate.gateway.pacs.mpps import mpps_in_progress
from panelgate.gateway.pacs.session import StoreSession
from panelgate.gateway.pacs.store import store_files
from panelgate.gateway.pacs.worklist import WorklistQuery, query_worklist

REPO = Path(__file__).resolve().parents[2]

# dcmtk logs transfer syntaxes by its own names (dcmdata/libsrc/dcxfer.cc).
_DCMTK_SYNTAX = {
    "LittleEndianImplicit": "1.2.840.10008.1.2",
    "LittleEndianExplicit": "1.2.840.10008.1.2.1",
    "DeflatedLittleEndianExplicit": "1.2.840.10008.1.2.1.99",
    "BigEndianExplicit": "1.2.840.10008.1.2.2",
    "JPEGLSLossless": "1.2.840.10008.1.2.4.80",
    "JPEG2000LosslessOnly": "1.2.840.10008.1.2.4.90",
    "RLELossless": "1.2.840.10008.1.2.5",
}
# dcmtk's SOP class names where they differ from pydicom's keywords (dcmdata/libsrc/dcuid.cc).
_DCMTK_SOP = {
    "FINDModalityWorklistInformationModel": "1.2.840.10008.5.1.4.31",
    "ModalityPerformedProcedureStepSOPClass": "1.2.840.10008.3.1.2.3.3",
    "StorageCommitmentPushModelSOPClass": "1.2.840.10008.1.20.1",
    "VerificationSOPClass": "1.2.840.10008.1.1",
    "DigitalXRayImageStorageForPresentation": "1.2.840.10008.5.1.4.1.1.1.1",
    "DigitalXRayImageStorageForProcessing": "1.2.840.10008.5.1.4.1.1.1.1.1",
}

Pair = tuple[str, str]


def _uid(name: str, table: dict[str, str]) -> str:
    name = name.strip().lstrip("=")
    if re.fullmatch(r"[0-9.]+", name):
        return name
    if name in table:
        return table[name]
    found = [uid for uid, entry in pydicom.uid.UID_dictionary.items() if entry[4] == name]
    assert found, f"dcmtk name {name!r} is in neither table: add it"
    return found[0]


def proposed_pairs(log: str) -> set[Pair]:
    """(abstract syntax, transfer syntax) pairs of every A-ASSOCIATE-RQ in a dcmtk debug log."""
    pairs: set[Pair] = set()
    abstract = ""
    in_syntaxes = False
    for line in log.splitlines():
        text = line.removeprefix("D:").strip()
        if text.startswith("Abstract Syntax:"):
            abstract = _uid(text.split(":", 1)[1], _DCMTK_SOP)
            in_syntaxes = False
        elif text.startswith("Proposed Transfer Syntax(es):"):
            in_syntaxes = True
        elif in_syntaxes and text.startswith("="):
            pairs.add((abstract, _uid(text, _DCMTK_SYNTAX)))
        else:
            in_syntaxes = False
    return pairs


def statement_pairs(sop_classes: set[str] | None = None) -> set[Pair]:
    """The SCU table of the statement as pairs, optionally for some SOP classes only."""
    return {
        (str(row.abstract_syntax), str(ts))
        for row in conformance.SCU_CONTEXTS
        if sop_classes is None or str(row.abstract_syntax) in sop_classes
        for ts in row.transfer_syntaxes
    }


@pytest.fixture
def dcmtk_scp(
    tmp_path: Path, require_peer: Callable[[str], str], get_free_port: Callable[[], int]
) -> Iterator[Callable[[list[str]], tuple[int, Path]]]:
    """``dcmtk_scp(argv)`` starts a dcmtk SCP with ``-d`` on a free port; gives (port, log)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str]) -> tuple[int, Path]:
        port = get_free_port()
        log = tmp_path / f"{Path(argv[0]).name}-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [require_peer(argv[0]), "-d", *argv[1:], str(port)],
                stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
            )  # fmt: skip
        procs.append(proc)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port, log
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"{argv[0]} did not start: {log.read_text()}")
                time.sleep(0.05)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def _dx_files(tmp_path: Path, dx: Callable[..., pydicom.Dataset]) -> list[Path]:
    """One file per SOP class and per transfer syntax panelgate writes for it.

    The negotiation depends on a file's SOP class and transfer syntax only: the dose SR is
    stood in for by a data set with its SOP class, in the SR's explicit little endian.
    """
    paths = []
    for sop_class in conformance.STORAGE_SOP_CLASSES:
        compressible = sop_class in conformance.IMAGE_SOP_CLASSES
        for method in (None, *LOSSLESS) if compressible else (None,):
            ds = dx(seed=len(paths), size=32)
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
            if method is not None:
                compress_lossless(ds, method)
            path = tmp_path / f"{len(paths)}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def _wait_for_log(log: Path, needle: str) -> str:
    deadline = time.monotonic() + 10
    while needle not in (text := log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return text


def test_storage_and_commitment_propose_what_the_statement_says(
    tmp_path: Path, dcmtk_scp: Callable[..., tuple[int, Path]], dx: Callable[..., pydicom.Dataset]
) -> None:
    """Every file the builder can write goes to storescp; the proposals equal the table."""
    port, log = dcmtk_scp(["storescp", "+xa", "-od", str(tmp_path)])
    destination = Destination("127.0.0.1", port, called_ae="STORESCP")
    results = store_files(_dx_files(tmp_path, dx), destination)
    assert all(r.outcome.name == "SUCCESS" for r in results), results
    with StoreSession(destination) as session, pytest.raises(DeliveryError):
        # storescp is no commitment SCP: it refuses the context, but logs the proposal.
        session.request_commitment("1.2.3.4", [(str(DX_FOR_PROCESSING), "1.2.3.4.5")])

    seen = proposed_pairs(_wait_for_log(log, "StorageCommitment"))
    storage = {str(s) for s in conformance.STORAGE_SOP_CLASSES}
    assert {p for p in seen if p[0] in storage} == statement_pairs(storage)
    commitment = {str(StorageCommitmentPushModel)}
    assert {p for p in seen if p[0] in commitment} == statement_pairs(commitment)


def test_worklist_and_mpps_propose_what_the_statement_says(
    tmp_path: Path, dcmtk_scp: Callable[..., tuple[int, Path]]
) -> None:
    """C-FIND to wlmscpfs and N-CREATE to storescp (which refuses MPPS but logs it)."""
    (tmp_path / "wl" / "WLAE").mkdir(parents=True)
    (tmp_path / "wl" / "WLAE" / "lockfile").touch()
    wl_port, wl_log = dcmtk_scp(["wlmscpfs", "-dfp", str(tmp_path / "wl")])
    assert (
        query_worklist(Destination("127.0.0.1", wl_port, called_ae="WLAE"), WorklistQuery()) == []
    )
    mpps_port, mpps_log = dcmtk_scp(["storescp"])
    with pytest.raises(DeliveryError):
        mpps_in_progress(
            Destination("127.0.0.1", mpps_port, called_ae="STORESCP"),
            StudyContext(patient_name="Doe^Jane", patient_id="P1"),
            station_ae="PANELGATE",
            uid_root="1.2.826.0.1.3680043.10.1234.",
        )
    mwl = {str(ModalityWorklistInformationFind)}
    assert proposed_pairs(_wait_for_log(wl_log, "Abstract Syntax")) == statement_pairs(mwl)
    mpps = {str(UID("1.2.840.10008.3.1.2.3.3"))}
    assert proposed_pairs(_wait_for_log(mpps_log, "Abstract Syntax")) == statement_pairs(mpps)


def test_the_listener_accepts_what_the_statement_says(
    tmp_path: Path, require_peer: Callable[[str], str], get_free_port: Callable[[], int]
) -> None:
    """dcmtk echoscu is accepted; commitment with role selection is; storage is not."""
    port = get_free_port()
    listener = Listener("PANELGATE", lambda _r: None, port=port, audit=AuditTrail(None))
    with listener:
        echo = subprocess.run(
            [require_peer("echoscu"), "-aec", "PANELGATE", "127.0.0.1", str(port)],
            check=False, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert echo.returncode == 0, echo.stderr
        ae = AE(ae_title="ARCHIVE")
        commit_cx = build_context(StorageCommitmentPushModel, [ExplicitVRLittleEndian])
        commit_cx.scu_role, commit_cx.scp_role = True, True
        dx_cx = build_context(str(DX_FOR_PROCESSING), [ExplicitVRLittleEndian])
        assoc = ae.associate("127.0.0.1", port, [commit_cx, dx_cx], ae_title="PANELGATE")
        try:
            accepted = {cx.abstract_syntax for cx in assoc.accepted_contexts}
        finally:
            assoc.release()
    scp_classes = {str(row.abstract_syntax) for row in conformance.SCP_CONTEXTS}
    assert accepted == {str(StorageCommitmentPushModel)}
    assert accepted <= scp_classes
    assert str(DX_FOR_PROCESSING) not in scp_classes


def test_committed_statement_is_what_the_code_generates() -> None:
    committed = (REPO / "docs" / "conformance-statement.md").read_text()
    assert committed == statement(), (
        "docs/conformance-statement.md is out of date: "
        "run `panelgate conformance --out docs/conformance-statement.md`"
    )


def test_statement_names_every_proposed_context() -> None:
    text = conformance.render_statement("0")
    for row in (*conformance.SCU_CONTEXTS, *conformance.SCP_CONTEXTS):
        assert f"`{row.abstract_syntax}`" in text
        for ts in row.transfer_syntaxes:
            assert f"`{ts}`" in text

"""panelgate's DICOM Conformance Statement, generated from the tables the code itself uses.

PS3.2 gives the structure: an overview of the network services, then per Application
Entity the SOP classes it supports as SCU and as SCP, the presentation contexts it proposes
or accepts (abstract and transfer syntaxes, role), its association policies, then the
character sets and security profiles. Every row below is read from the module that does the
work (the DX builder's SOP classes, the compression table, the transcoder's fallback
syntaxes, the services' own SOP class constants), so the statement cannot drift from the
code; ``tests/gateway/test_conformance.py`` compares it with the negotiation panelgate
really offers to dcmtk peers, and with the committed ``docs/conformance-statement.md``.
``panelgate conformance`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.uid import UID
from pynetdicom import DEFAULT_TRANSFER_SYNTAXES
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    StorageCommitmentPushModel,
    Verification,
)

from panelgate.gateway.dicom.build import DX_FOR_PRESENTATION, DX_FOR_PROCESSING
from panelgate.gateway.dicom.compress import LOSSLESS
from panelgate.gateway.dicom.rdsr import XRAY_RADIATION_DOSE_SR
from panelgate.gateway.dicom.transcode import UNCOMPRESSED_LITTLE_ENDIAN
from panelgate.gateway.pacs.destination import Destination

__all__ = [
    "CHARACTER_SETS",
    "IMAGE_SOP_CLASSES",
    "SCP_CONTEXTS",
    "SCU_CONTEXTS",
    "STORAGE_SOP_CLASSES",
    "Context",
    "render_statement",
    "storage_syntaxes",
]


@dataclass(frozen=True)
class Context:
    """One presentation context row of the statement (PS3.2 A.4.2, Table A.4-x).

    Attributes
    ----------
    abstract_syntax : pydicom.uid.UID
        The SOP class.
    transfer_syntaxes : tuple of pydicom.uid.UID
        The transfer syntaxes proposed (SCU) or accepted (SCP), in order of preference.
    role : str
        ``"SCU"`` or ``"SCP"``; ``"SCU/SCP"`` where SCP/SCU role selection is negotiated.
    extended : str
        Extended negotiation, or ``"None"``.
    """

    abstract_syntax: UID
    transfer_syntaxes: tuple[UID, ...]
    role: str
    extended: str = "None"


IMAGE_SOP_CLASSES: tuple[UID, ...] = (DX_FOR_PRESENTATION, DX_FOR_PROCESSING)
"""The image SOP classes the builder makes (compressed when so configured)."""

STORAGE_SOP_CLASSES: tuple[UID, ...] = (*IMAGE_SOP_CLASSES, XRAY_RADIATION_DOSE_SR)
"""Everything the storage SCU sends: the images and the X-Ray Radiation Dose SR."""

CHARACTER_SETS: tuple[str, ...] = ("ISO_IR 100", "ISO_IR 192")
"""Specific Character Set values written (Latin-1 when every text fits it, else UTF-8)."""

_DEFAULT_SYNTAXES: tuple[UID, ...] = tuple(UID(ts) for ts in DEFAULT_TRANSFER_SYNTAXES)
"""pynetdicom's default syntaxes, proposed in one context by the worklist and MPPS SCUs and
accepted by the listener: implicit and explicit little endian, deflated, explicit big endian."""


def storage_syntaxes() -> tuple[UID, ...]:
    """Transfer syntaxes a storage context may propose, most preferred first.

    A file is proposed in its own transfer syntax (one of the configured lossless
    compressions, or uncompressed) and, in contexts of their own, in the uncompressed
    little-endian syntaxes the session can convert it to (see
    :mod:`panelgate.gateway.pacs.session`).
    """
    compressed = tuple(uid for uid, _plugin in LOSSLESS.values())
    return (*compressed, *UNCOMPRESSED_LITTLE_ENDIAN)


SCU_CONTEXTS: tuple[Context, ...] = (
    *(Context(sop, storage_syntaxes(), "SCU") for sop in IMAGE_SOP_CLASSES),
    # The dose SR is written in explicit VR little endian, never compressed.
    Context(XRAY_RADIATION_DOSE_SR, UNCOMPRESSED_LITTLE_ENDIAN, "SCU"),
    # N-ACTION rides on the storage association, one context per little-endian syntax.
    Context(UID(StorageCommitmentPushModel), UNCOMPRESSED_LITTLE_ENDIAN, "SCU"),
    Context(UID(ModalityWorklistInformationFind), _DEFAULT_SYNTAXES, "SCU"),
    Context(UID(ModalityPerformedProcedureStep), _DEFAULT_SYNTAXES, "SCU"),
)
"""What the agent and the station propose (C-STORE, N-ACTION, C-FIND, N-CREATE/N-SET)."""

SCP_CONTEXTS: tuple[Context, ...] = (
    Context(UID(StorageCommitmentPushModel), _DEFAULT_SYNTAXES, "SCU/SCP"),
    Context(UID(Verification), _DEFAULT_SYNTAXES, "SCP"),
)
"""What the storage-commitment listener accepts (N-EVENT-REPORT on a new association)."""


def _name(uid: UID) -> str:
    return f"{uid.name} | `{uid}`"


def _context_table(rows: tuple[Context, ...]) -> list[str]:
    lines = [
        "| SOP class | UID | Transfer syntaxes | Role | Extended negotiation |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        syntaxes = "<br>".join(f"{ts.name} `{ts}`" for ts in row.transfer_syntaxes)
        lines.append(f"| {_name(row.abstract_syntax)} | {syntaxes} | {row.role} | {row.extended} |")
    return lines


def render_statement(version: str) -> str:
    """Render the conformance statement as Markdown (PS3.2 Annex A structure).

    Parameters
    ----------
    version : str
        panelgate's version, printed in the statement's header.

    Returns
    -------
    str
        The statement; ``docs/conformance-statement.md`` holds the committed copy.
    """
    out = [
        "# DICOM Conformance Statement: panelgate",
        "",
        f"Product version {version}. Structure of DICOM PS3.2 Annex A. Generated by "
        "`panelgate conformance` from the code's own tables (`panelgate.gateway.conformance`);"
        " a test fails when the negotiation panelgate offers to dcmtk peers differs from it.",
        "",
        "## 1. Overview",
        "",
        "panelgate acquires Digital X-Ray images from a flat-panel detector and sends them to"
        " archives. Network services:",
        "",
        "| Service | SOP classes | User of service (SCU) | Provider of service (SCP) |",
        "|---|---|---|---|",
        "| Transfer | Digital X-Ray Image Storage, For Presentation and For Processing | Yes |"
        " No |",
        "| Transfer | X-Ray Radiation Dose SR (one per study, IHE REM) | Yes | No |",
        "| Storage commitment | Storage Commitment Push Model | Yes | Yes (N-EVENT-REPORT"
        " receiver, role selection) |",
        "| Workflow | Modality Worklist Information Model - FIND | Yes | No |",
        "| Workflow | Modality Performed Procedure Step | Yes | No |",
        "| Verification | Verification | No | Yes (listener) |",
        "",
        "## 2. Application Entity specifications",
        "",
        "One Application Entity (AE title from the configuration's `[agent]`/`[station]`"
        " `ae_title`; 1 to 16 characters of the PS3.5 AE repertoire, no backslash) sends,"
        " queries and reports; the same AE title receives storage-commitment results on the"
        " listener port.",
        "",
        "### 2.1 Presentation contexts proposed (SCU)",
        "",
        *_context_table(SCU_CONTEXTS),
        "",
        "A storage association proposes, per SOP class to send, one presentation context per"
        " transfer syntax: the file's own (a lossless compression when configured) in a"
        " context of its own, then each uncompressed little-endian syntax, so that a peer may"
        " refuse compression and still accept the instance; the file is then converted"
        " losslessly (same SOP Instance UID). At most 128 contexts per association.",
        "",
        "### 2.2 Presentation contexts accepted (SCP)",
        "",
        *_context_table(SCP_CONTEXTS),
        "",
        "### 2.3 Association policies",
        "",
        "- Application context name 1.2.840.10008.3.1.1.1. Maximum PDU receive size: per"
        f" destination `max_pdu` (default {Destination.max_pdu} bytes; 0 = no limit); PDUs"
        " are sent at the size the peer asks for.",
        "- Initiation: one association per destination at a time, kept open across instances"
        " and reopened on loss; worklist queries and MPPS open their own associations.",
        "- Acceptance: the listener takes associations called to its own AE title; with"
        " `allowed_calling_aes` configured (the archives' AE titles) it rejects any other"
        " calling AE, and the rejection is audited.",
        "- Every DIMSE reply status is classified (PS3.7 Annex C): Success and Warning count"
        " as sent; no status, abort, timeout and 0xA7xx are retried with backoff; 0xA9xx,"
        " 0xCxxx, 0x0122 and 0x0124 fail the instance. An instance counts as delivered only"
        " when storage commitment reports it (or, for a DICOMweb destination, when QIDO-RS"
        " finds it).",
        "- Timeouts: connection, ACSE, DIMSE and network timeouts per destination"
        " (`connect_s`, `acse_s`, `dimse_s`, `network_s`).",
        "",
        "### 2.4 DICOMweb (PS3.18)",
        "",
        "A destination of kind `dicomweb` receives the same instances as a DIMSE one, as a"
        " user agent of the web services:",
        "",
        '- STOW-RS: `POST {url}/studies`, `multipart/related; type="application/dicom"`,'
        " each part the Part-10 file as spooled (its own transfer syntax), at most"
        " `max_parts` instances per request, streamed from the spool with idle (not"
        " whole-request) timeouts. The response (PS3.18 JSON or XML: Referenced SOP Sequence,"
        " Failed SOP Sequence with Failure Reason, Warning Reason) is classified per instance"
        " like a DIMSE status; connection errors, 409, 503 and other 5xx are retried with"
        " backoff.",
        "- QIDO-RS: `GET {url}/studies/{study}/series/{series}/instances?SOPInstanceUID=...`"
        " confirms each instance (SOP class, rows, columns, frames) before it counts as"
        " committed, for archives without storage commitment.",
        "- HTTPS with a CA file (TLS 1.2+), or plain HTTP to a loopback address only;"
        " bearer-token or basic authentication, secrets never logged.",
        "",
        "## 3. Character sets",
        "",
        "Specific Character Set (0008,0005) written: "
        + ", ".join(f"`{cs}`" for cs in CHARACTER_SETS)
        + " (Latin-1 when every text fits it, otherwise UTF-8). Worklist responses in any"
        " character set pydicom decodes are accepted.",
        "",
        "## 4. Security",
        "",
        "- DICOM over TLS (PS3.15 Annex B, BCP 195 profile): TLS 1.2 or 1.3, server"
        " certificate verified against the configured CA file, optional client certificate;"
        " per destination and for the listener.",
        "- Audit trail (PS3.15 A.5, IHE ATNA): application activity, DICOM instances"
        " transferred, query, user authentication and security alerts, as JSON lines and"
        " optionally as RFC 3881 / DICOM audit messages over syslog TLS (RFC 5424/5425).",
        "- Patient data never appears in logs above DEBUG; spool files are readable only by"
        " the service's user.",
        "",
    ]
    return "\n".join(out)

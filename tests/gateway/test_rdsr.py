"""X-Ray Radiation Dose SR (gateway/dicom/rdsr.py): valid, and every value read back.

The SR is checked by dciodvfy (plain and with its IHE REM profile: zero errors once the
worklist gives admitting diagnoses, weight and size), rendered by dcmtk
``dsrdump`` and parsed back by pydicom and by dcmtk ``dsr2xml``; every value is compared
with the irradiation events it was built from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.sr._cid_dict import cid_concepts
from pydicom.sr._concepts_dict import concepts
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from panelgate.gateway import DicomBuildError
from panelgate.gateway.dicom import ProtocolCode, StudyContext, dose_codes, write_atomic
from panelgate.gateway.dicom.dose import DoseGeometry, TubeOutput, event_dose
from panelgate.gateway.dicom.dose_event import DeviceObserver, IrradiationEvent
from panelgate.gateway.dicom.rdsr import XRAY_RADIATION_DOSE_SR, build_dose_report

ROOT = "1.2.826.0.1.3680043.8.498."
T0 = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)
STUDY = StudyContext(
    patient_name="Doe^Jane",
    patient_id="P-1",
    patient_birth_date="19700101",
    patient_sex="F",
    study_instance_uid=generate_uid(prefix=ROOT),
    accession_number="ACC1",
    scheduled_protocol_codes=(ProtocolCode("RPID1", "99LOCAL", "XR CHEST PA"),),
)
DEVICE = DeviceObserver(generate_uid(prefix=ROOT), "ROOM 1", "panelgate", "panelgate", "SN-7")


def _events() -> list[IrradiationEvent]:
    """Three exposures: chest PA twice (the first one later rejected), a left hand."""
    techniques = [
        (120.0, 200.0, 10.0, 2.0, "CHEST", "PA", "U", 310.0, None),
        (121.0, 198.0, 10.1, 2.0, "CHEST", "PA", "U", 402.0, None),
        (55.0, 100.0, 40.0, 4.0, "HAND", "", "L", 250.0, 1.25),
    ]
    events = []
    for i, (kv, ma, ms, mas, part, view, side, ei, measured) in enumerate(techniques):
        dose = event_dose(kv, mas, DoseGeometry(), TubeOutput(), measured_dap_dgycm2=measured)
        events.append(
            IrradiationEvent(
                generate_uid(prefix=ROOT),
                T0 + dt.timedelta(minutes=i),
                kv,
                ma,
                ms,
                mas,
                dose,
                part,
                view,
                side,
                f"{part} {view}".strip(),
                ei,
                400.0,
                generate_uid(prefix=ROOT),
                generate_uid(prefix=ROOT),
            )
        )
    return events


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, list[IrradiationEvent]]:
    events = _events()
    ds = build_dose_report(
        list(reversed(events)), study=STUDY, device=DEVICE, uid_root=ROOT,
        software_version="0.1", performed_procedure_step_uid=generate_uid(prefix=ROOT),
    )  # fmt: skip
    return write_atomic(ds, tmp_path / "rdsr.dcm"), events


def _concept(item: Any) -> str:
    return str(item.ConceptNameCodeSequence[0].CodeValue)


def _value(item: Any) -> Any:
    kind = item.ValueType
    if kind == "NUM":
        measured = item.MeasuredValueSequence[0]
        return float(measured.NumericValue), measured.MeasurementUnitsCodeSequence[0].CodeValue
    if kind == "CODE":
        return str(item.ConceptCodeSequence[0].CodeValue)
    if kind == "UIDREF":
        return str(item.UID)
    if kind == "TEXT":
        return str(item.TextValue)
    if kind == "DATETIME":
        return str(item.DateTime)
    return item


def _children(item: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for child in item.get("ContentSequence", []):
        found.setdefault(_concept(child), []).append(_value(child))
    return found


def _local_dt(when: dt.datetime) -> str:
    return when.astimezone().strftime("%Y%m%d%H%M%S.%f")


def test_sr_is_valid_for_dciodvfy(
    report: tuple[Path, list[IrradiationEvent]],
    dciodvfy: Callable[[Path], tuple[list[str], list[str]]],
) -> None:
    errors, _ = dciodvfy(report[0])
    assert errors == []


KNOWN = dataclasses.replace(
    STUDY,
    admitting_diagnoses_description="Persistent cough",
    admitting_diagnoses_codes=(ProtocolCode("R05", "I10", "Cough"),),
    patient_weight_kg=71.5,
    patient_size_m=1.68,
)
"""The study as a worklist item with admitting diagnoses, weight and size gives it."""

UNKNOWN_TO_KEYWORDS = {
    "admitting_diagnoses_description": ("AdmittingDiagnosesDescription", ""),
    "admitting_diagnoses_codes": ("AdmittingDiagnosesCodeSequence", ()),
    "patient_weight_kg": ("PatientWeight", None),
    "patient_size_m": ("PatientSize", None),
    # no procedure or protocol code: Projection X-Ray is performed, never an error
    "scheduled_protocol_codes": ("", ()),
}


def _ihe_rem_errors(path: Path, exe: str) -> list[str]:
    proc = subprocess.run(
        [exe, "-profile", "IHEREM", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = (proc.stdout + proc.stderr).splitlines()
    assert lines[0] == "XRayRadiationDoseSRIHEREM"
    return [line for line in lines if line.startswith("Error")]


@pytest.mark.parametrize("unknown", [(), *((k,) for k in UNKNOWN_TO_KEYWORDS)])
def test_ihe_rem_profile_complains_only_of_what_the_worklist_did_not_give(
    unknown: tuple[str, ...],
    tmp_path: Path,
    require_peer: Callable[[str], str],
    dciodvfy: Callable[[Path], tuple[list[str], list[str]]],
) -> None:
    """dciodvfy -profile IHEREM: zero errors with the worklist's diagnoses, weight and size.

    Each one unknown is left out of the SR (the profile checks them as Type 1: an empty
    value is an error too), and is then the profile's only error; plain dciodvfy stays at
    zero either way.
    """
    study = dataclasses.replace(KNOWN, **{k: UNKNOWN_TO_KEYWORDS[k][1] for k in unknown})
    ds = build_dose_report(
        _events(), study=study, device=DEVICE, uid_root=ROOT, software_version="0.1",
        performed_procedure_step_uid=generate_uid(prefix=ROOT),
    )  # fmt: skip
    path = write_atomic(ds, tmp_path / "rdsr.dcm")
    back = pydicom.dcmread(path)
    assert back.get("PatientWeight") == (None if "patient_weight_kg" in unknown else 71.5)
    assert back.get("PatientSize") == (None if "patient_size_m" in unknown else 1.68)
    assert back.get("AdmittingDiagnosesDescription") == (
        None if "admitting_diagnoses_description" in unknown else "Persistent cough"
    )
    errors = _ihe_rem_errors(path, require_peer("dciodvfy"))
    missing = sorted(line.split("<")[1].split(">")[0] for line in errors)
    assert missing == sorted(
        UNKNOWN_TO_KEYWORDS[k][0] for k in unknown if k != "scheduled_protocol_codes"
    ), errors
    performed = back.PerformedProcedureCodeSequence[0].CodeValue
    assert performed == ("113704" if "scheduled_protocol_codes" in unknown else "RPID1")
    assert all("Missing attribute" in line for line in errors), errors
    assert dciodvfy(path)[0] == []


def test_performed_procedure_is_the_requested_one_when_the_worklist_names_it() -> None:
    requested = ProtocolCode("RPID16", "RADLEX", "XR Chest 2 Views")
    study = dataclasses.replace(KNOWN, requested_procedure_codes=(requested,))
    ds = build_dose_report(
        _events(), study=study, device=DEVICE, uid_root=ROOT, software_version="0.1"
    )
    (item,) = ds.PerformedProcedureCodeSequence
    assert (item.CodeValue, item.CodingSchemeDesignator) == ("RPID16", "RADLEX")


def test_ihe_rem_profile_needs_the_performed_procedure_step(
    tmp_path: Path, require_peer: Callable[[str], str]
) -> None:
    """Without the step's UID the profile's Referenced PPS Sequence is empty: an error."""
    ds = build_dose_report(
        _events(), study=KNOWN, device=DEVICE, uid_root=ROOT, software_version="0.1"
    )
    errors = _ihe_rem_errors(write_atomic(ds, tmp_path / "rdsr.dcm"), require_peer("dciodvfy"))
    assert len(errors) == 1 and "ReferencedPerformedProcedureStepSequence" in errors[0]


def test_pydicom_reads_back_every_event_and_the_totals(
    report: tuple[Path, list[IrradiationEvent]],
) -> None:
    path, events = report
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == XRAY_RADIATION_DOSE_SR == ds.file_meta.MediaStorageSOPClassUID
    assert ds.Modality == "SR" and ds.StudyInstanceUID == STUDY.study_instance_uid
    assert ds.PatientID == "P-1" and ds.PatientAge == "056Y"
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "10001"
    assert _concept(ds) == "113701"
    root = _children(ds)
    assert root["121058"] == ["113704"]  # Procedure reported: Projection X-Ray
    assert root["122142"] == ["113958"]  # Integrated Projection Radiography System
    assert root["121012"] == [DEVICE.uid] and root["121016"] == ["SN-7"]
    assert root["113809"] == [_local_dt(events[0].started)]
    scope = next(c for c in ds.ContentSequence if _concept(c) == "113705")
    assert _children(scope)["110180"] == [STUDY.study_instance_uid]
    assert root["113854"] == ["113940"]  # System Calculated: not every DAP was measured
    (accumulated,) = root["113702"]
    totals = _children(accumulated)
    dap_total = sum(e.dose.dap_gym2 for e in events)
    assert totals["113722"][0] == (pytest.approx(dap_total, rel=1e-9), "Gy.m2")
    assert totals["113727"][0] == (pytest.approx(dap_total, rel=1e-9), "Gy.m2")
    rp_total = sum(e.dose.entrance_dose_mgy for e in events) / 1000
    assert totals["113725"][0] == (pytest.approx(rp_total, rel=1e-9), "Gy")
    assert totals["113731"][0][0] == 3.0 and totals["113726"][0][0] == 0.0
    reported = root["113706"]
    assert len(reported) == 3  # the rejected exposure is reported: it irradiated the patient
    for event, container in zip(events, reported, strict=True):  # in start order
        got = _children(container)
        assert got["113769"] == [event.irradiation_event_uid]
        assert got["111526"] == [_local_dt(event.started)]
        assert got["113721"] == ["113611"] and got["113764"] == ["113622"]
        assert got["125203"] == [event.acquisition_protocol]
        assert got["122130"][0] == (pytest.approx(event.dose.dap_gym2, rel=1e-9), "Gy.m2")
        assert got["113738"][0] == (pytest.approx(event.dose.entrance_dose_mgy / 1000), "Gy")
        assert got["113733"][0] == (event.kvp, "kV")
        assert got["113734"][0] == (event.tube_current_ma, "mA")
        assert got["113824"][0] == (event.exposure_time_ms, "ms")
        assert got["113736"][0] == (pytest.approx(event.exposure_mas * 1000), "uA.s")
        assert got["113845"][0][0] == event.exposure_index
        assert got["113846"][0][0] == event.target_exposure_index
        assert got["113847"][0][0] == pytest.approx(event.deviation_index)
        assert got["113750"][0] == (1800.0, "mm") and got["113780"] == ["113861"]
        assert got["113790"][0] == (pytest.approx(event.dose.field_area_m2), "m2")
    chest, _, hand = (_children(c) for c in reported)
    assert chest["123014"] == ["816094009"] and chest["111031"] == ["272479007"]
    assert hand["123014"] == ["85562004"] and "111031" not in hand
    region = next(c for c in reported[2].ContentSequence if _concept(c) == "123014")
    assert _children(region)["272741003"] == ["7771000"]  # Laterality: left


def test_dcmtk_renders_and_parses_the_same_values(
    report: tuple[Path, list[IrradiationEvent]], require_peer: Callable[[str], str]
) -> None:
    path, events = report
    dump = subprocess.run(
        [require_peer("dsrdump"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert dump.returncode == 0 and "E:" not in dump.stderr, dump.stderr
    assert "X-Ray Radiation Dose SR Document" in dump.stdout
    assert dump.stdout.count('"Irradiation Event X-Ray Data"') == 3
    xml = subprocess.run(
        [require_peer("dsr2xml"), str(path)], capture_output=True, timeout=60, check=True
    ).stdout
    tree = ET.fromstring(xml)
    containers = [c for c in tree.iter("container") if c.findtext("concept/value") == "113706"]
    assert len(containers) == 3
    for event, container in zip(events, containers, strict=True):
        values: dict[str, str] = {}
        for child in container:
            code = child.findtext("concept/value")
            if code is not None:
                values[code] = child.findtext("value") or ""
        assert values["113769"] == event.irradiation_event_uid
        assert float(values["122130"]) == pytest.approx(event.dose.dap_gym2, rel=1e-9)
        assert float(values["113733"]) == event.kvp
        assert float(values["113736"]) == pytest.approx(event.exposure_mas * 1000)
        assert float(values["113845"]) == event.exposure_index


def test_only_measured_daps_are_automated_data_collection() -> None:
    events = [e for e in _events() if e.dose.dap_source == "generator"]
    ds = build_dose_report(
        events, study=STUDY, device=DEVICE, uid_root=ROOT, software_version="0.1"
    )
    assert _children(ds)["113854"] == ["113856"]
    assert ds.ReferencedPerformedProcedureStepSequence == []


@pytest.mark.parametrize(
    ("events", "study", "message"),
    [
        ([], STUDY, "at least one"),
        (None, StudyContext(patient_name="A", patient_id="B"), "Study Instance UID"),
        (
            None,
            StudyContext(patient_name="A" * 70, patient_id="B", study_instance_uid="1.2"),
            "PatientName",
        ),
    ],
)
def test_refused_without_events_study_or_valid_values(
    events: list[IrradiationEvent] | None, study: StudyContext, message: str
) -> None:
    with pytest.raises(DicomBuildError, match=message):
        build_dose_report(
            _events() if events is None else events,
            study=study, device=DEVICE, uid_root=ROOT, software_version="0.1",
        )  # fmt: skip


def _standard_codes() -> dict[tuple[str, str], str]:
    """(scheme, value) -> meaning in PS3.16, as pydicom generates them from the standard."""
    table = {}
    for scheme in ("DCM", "SCT"):
        for values in concepts[scheme].values():
            for value, (meaning, _cids) in values.items():
                table[(scheme, value)] = meaning
    return table


def test_every_code_is_the_standards_with_its_meaning_and_context_group() -> None:
    """dciodvfy does not check codes against PS3.16: this table test does (dose_codes.py)."""
    table = _standard_codes()
    used = {name: c for name, c in vars(dose_codes).items() if isinstance(c, Code)}
    coded = {n: c for n, c in used.items() if c.scheme_designator in ("DCM", "SCT")}
    assert len(coded) > 50
    for name, code in coded.items():
        meaning = table[(code.scheme_designator, code.value)]
        assert meaning.lower() == code.meaning.lower(), name
    for code, cid in [
        (dose_codes.INTEGRATED_PROJECTION, 10032),  # Acquisition Device Type
        (dose_codes.RP_30CM_IN_FRONT, 10025),  # Radiation Dose Reference Point
        (dose_codes.AUTOMATED, 10020),  # Source of Projection X-Ray Dose Information
        (dose_codes.SYSTEM_CALCULATED, 10020),
        (dose_codes.STATIONARY, 10002),  # Irradiation Event Type
        (dose_codes.SINGLE_PLANE, 10003),  # Acquisition Plane
        *((side, 244) for side in dose_codes.LATERALITIES.values()),  # Laterality
    ]:
        members = {
            value
            for keyword in cid_concepts[cid].get(code.scheme_designator, [])
            for value in concepts[code.scheme_designator][keyword]
        }
        assert code.value in members, (code, cid)

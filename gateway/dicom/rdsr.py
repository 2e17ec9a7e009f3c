"""X-Ray Radiation Dose SR (PS3.3 A.35.8): the dose report of one study, as IHE REM asks.

One instance per study (or performed procedure step), SOP Class
1.2.840.10008.5.1.4.1.1.88.67, with the content tree of PS3.16 TID 10001 "Projection
X-Ray Radiation Dose"::

    CONTAINER (113701 X-Ray Radiation Dose Report)                        TID 10001
      HAS CONCEPT MOD  Procedure reported (121058) = Projection X-Ray (113704)
        HAS CONCEPT MOD  Has Intent (363703001) = Diagnostic Intent (261004008)
      HAS OBS CONTEXT  Observer Type = Device, Device Observer UID, Name,     TID 1002/1004
                       Manufacturer, Model Name, Serial Number, Device Role
      HAS OBS CONTEXT  Start / End of X-Ray Irradiation (113809 / 113810)
      HAS OBS CONTEXT  Scope of Accumulation (113705) = Study (113014)
        HAS PROPERTIES Study Instance UID (110180)
      CONTAINS  Acquisition Device Type (122142) = Integrated Projection Radiography
      CONTAINS  CONTAINER Accumulated X-Ray Dose Data (113702)               TID 10002
                  Acquisition Plane = Single Plane; DAP, Dose (RP), fluoro and
                  acquisition totals, times, number of frames, reference point  TID 10004
      CONTAINS  CONTAINER Irradiation Event X-Ray Data (113706), one per exposure TID 10003
                  Irradiation Event UID (= the image's (0008,3010)), DateTime Started,
                  Irradiation Event Type = Stationary Acquisition, Acquisition Protocol,
                  Target Region (+ Laterality), Image View, DAP, Dose (RP), reference
                  point, collimated field area, EI / EI_T / DI (TID 10003A), kVp, tube
                  current, exposure time, exposure (TID 10003B), distances (TID 10003C)
      CONTAINS  Source of Dose Information (113854) = Automated Data Collection or
                System Calculated (CID 10020)

The content items are highdicom's (:mod:`highdicom.sr`: each item checks its value type
and relationship and encodes its code sequences); highdicom ships templates only for the
TID 1500 family, so the tree and the SR Document modules are put together here with
pydicom. Rejected exposures are reported too: they irradiated the patient.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import highdicom.sr as hsr
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.sr.coding import Code
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from panelgate.gateway.errors import DicomBuildError

from . import dose_codes as codes
from .context import ANATOMY_CODES, VIEW_CODES, ProtocolCode, StudyContext
from .dose_event import DeviceObserver, IrradiationEvent
from .vr import vr_problem

__all__ = ["XRAY_RADIATION_DOSE_SR", "build_dose_report"]

XRAY_RADIATION_DOSE_SR = UID("1.2.840.10008.5.1.4.1.1.88.67")

_IMPLEMENTATION_VERSION = "PANELGATE_01"


_HAS_CONCEPT_MOD = "HAS CONCEPT MOD"
_HAS_OBS_CONTEXT = "HAS OBS CONTEXT"
_HAS_PROPERTIES = "HAS PROPERTIES"
_CONTAINS = "CONTAINS"


def build_dose_report(
    events: Sequence[IrradiationEvent],
    *,
    study: StudyContext,
    device: DeviceObserver,
    uid_root: str,
    software_version: str,
    performed_procedure_step_uid: str = "",
    institution_name: str = "",
    station_name: str = "",
    series_number: int = 900,
    instance_number: int = 1,
) -> Dataset:
    """Build the X-Ray Radiation Dose SR of one study from its irradiation events.

    Parameters
    ----------
    events : sequence of IrradiationEvent
        Every exposure of the study, rejected ones included, in any order (reported by
        start time).
    study : StudyContext
        Patient and study; ``study_instance_uid`` is the Scope of Accumulation.
    device : DeviceObserver
        The device that irradiated (TID 1004).
    uid_root : str
        Organisation UID root ending in ``.``, for the SR's own UIDs.
    software_version : str
        Software Versions (0018,1020) of the Enhanced General Equipment module.
    performed_procedure_step_uid : str
        The MPPS instance of the step, referenced in the series and document modules.

    Returns
    -------
    pydicom.dataset.Dataset
        With ``file_meta``, ready to write or queue.

    Raises
    ------
    DicomBuildError
        No events, no Study Instance UID, or a value that does not fit its VR.
    """
    if not events:
        raise DicomBuildError("a dose report needs at least one irradiation event")
    if not study.study_instance_uid:
        raise DicomBuildError(
            "a dose report needs the Study Instance UID", keyword="StudyInstanceUID"
        )
    ordered = sorted(events, key=lambda e: e.started)
    root = hsr.ContainerContentItem(codes.REPORT, template_id="10001")
    root.ContentSequence = DicomSequence(
        [
            *_header(ordered, study, device),
            _accumulated(ordered),
            *(_event(e) for e in ordered),
            hsr.CodeContentItem(codes.SOURCE_OF_DOSE, _dose_source(ordered), _CONTAINS),
        ]
    )
    now = dt.datetime.now().astimezone()
    ds = Dataset()
    for element in root:
        ds.add(element)
    _document(ds, study, device, when=(ordered[0].started, now), uid_root=uid_root)
    _set(ds, "SoftwareVersions", "LO", software_version)
    _set(ds, "InstitutionName", "LO", institution_name)
    _set(ds, "StationName", "SH", station_name)
    _set(ds, "SeriesNumber", "IS", str(series_number))
    _set(ds, "InstanceNumber", "IS", str(instance_number))
    pps = []
    if performed_procedure_step_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
        ref.ReferencedSOPInstanceUID = performed_procedure_step_uid
        pps.append(ref)
    ds.ReferencedPerformedProcedureStepSequence = pps
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = XRAY_RADIATION_DOSE_SR
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationVersionName = _IMPLEMENTATION_VERSION
    ds.file_meta = meta
    return ds


def _header(
    events: Sequence[IrradiationEvent], study: StudyContext, device: DeviceObserver
) -> list[Dataset]:
    procedure = hsr.CodeContentItem(
        codes.PROCEDURE_REPORTED, codes.PROJECTION_XRAY, _HAS_CONCEPT_MOD
    )
    procedure.ContentSequence = DicomSequence(
        [hsr.CodeContentItem(codes.HAS_INTENT, codes.DIAGNOSTIC_INTENT, _HAS_CONCEPT_MOD)]
    )
    scope = hsr.CodeContentItem(codes.SCOPE, codes.STUDY, _HAS_OBS_CONTEXT)
    scope.ContentSequence = DicomSequence(
        [hsr.UIDRefContentItem(codes.STUDY_UID, str(study.study_instance_uid), _HAS_PROPERTIES)]
    )
    last = events[-1]
    end = last.started + dt.timedelta(milliseconds=last.exposure_time_ms)
    return [
        procedure,
        *_observer(device),
        hsr.DateTimeContentItem(codes.START, _dt(events[0].started), _HAS_OBS_CONTEXT),
        hsr.DateTimeContentItem(codes.END, _dt(end), _HAS_OBS_CONTEXT),
        scope,
        hsr.CodeContentItem(codes.ACQUISITION_DEVICE_TYPE, codes.INTEGRATED_PROJECTION, _CONTAINS),
    ]


def _observer(device: DeviceObserver) -> list[Dataset]:
    # TID 1002 Observer Context with TID 1004 Device Observer Identifying Attributes
    items: list[Dataset] = [
        hsr.CodeContentItem(codes.OBSERVER_TYPE, codes.DEVICE, _HAS_OBS_CONTEXT),
        hsr.UIDRefContentItem(codes.DEVICE_UID, device.uid, _HAS_OBS_CONTEXT),
    ]
    for name, value in (
        (codes.DEVICE_NAME, device.name),
        (codes.DEVICE_MANUFACTURER, device.manufacturer),
        (codes.DEVICE_MODEL, device.model),
        (codes.DEVICE_SERIAL, device.serial),
    ):
        if value:
            items.append(hsr.TextContentItem(name, value, _HAS_OBS_CONTEXT))
    items.append(hsr.CodeContentItem(codes.DEVICE_ROLE, codes.IRRADIATING, _HAS_OBS_CONTEXT))
    return items


def _dt(when: dt.datetime) -> str:
    """Return a DT in local time without an offset (the instance's Timezone Offset applies).

    (dcmtk 3.6.7's ``dsrdump`` refuses a DATETIME content item that carries an offset.)
    """
    return when.astimezone().strftime("%Y%m%d%H%M%S.%f")


def _num(name: Code, value: float, unit: Code) -> hsr.NumContentItem:
    return hsr.NumContentItem(name, float(value), unit, relationship_type=_CONTAINS)


def _accumulated(events: Sequence[IrradiationEvent]) -> Dataset:
    # TID 10002 with TID 10004 Projection X-Ray Accumulated Dose (radiography only: fluoro 0)
    dap_gym2 = sum(e.dose.dap_gym2 for e in events)
    dose_rp_gy = sum(e.dose.entrance_dose_mgy for e in events) / 1000.0
    container = hsr.ContainerContentItem(codes.ACCUMULATED, relationship_type=_CONTAINS)
    container.ContentSequence = DicomSequence(
        [
            hsr.CodeContentItem(codes.ACQUISITION_PLANE, codes.SINGLE_PLANE, _HAS_CONCEPT_MOD),
            _num(codes.FLUORO_DAP_TOTAL, 0.0, codes.GY_M2),
            _num(codes.FLUORO_DOSE_RP_TOTAL, 0.0, codes.GY),
            _num(codes.FLUORO_TIME, 0.0, codes.S),
            _num(codes.ACQ_DAP_TOTAL, dap_gym2, codes.GY_M2),
            _num(codes.ACQ_DOSE_RP_TOTAL, dose_rp_gy, codes.GY),
            _num(codes.ACQ_TIME, sum(e.exposure_time_ms for e in events) / 1000.0, codes.S),
            _num(codes.DAP_TOTAL, dap_gym2, codes.GY_M2),
            _num(codes.DOSE_RP_TOTAL, dose_rp_gy, codes.GY),
            _num(codes.FRAMES, len(events), codes.NO_UNITS),
            hsr.CodeContentItem(codes.REFERENCE_POINT, codes.RP_30CM_IN_FRONT, _CONTAINS),
        ]
    )
    return container


def _event(event: IrradiationEvent) -> Dataset:
    # TID 10003 Irradiation Event X-Ray Data with 10003A (detector), B (source), C (mechanical)
    if event.body_part not in ANATOMY_CODES:
        raise DicomBuildError(f"unknown body part {event.body_part!r}", keyword="BodyPartExamined")
    region = hsr.CodeContentItem(
        codes.TARGET_REGION, codes.sct(*ANATOMY_CODES[event.body_part]), _CONTAINS
    )
    if event.image_laterality in codes.LATERALITIES:
        side = codes.LATERALITIES[event.image_laterality]
        region.ContentSequence = DicomSequence(
            [hsr.CodeContentItem(codes.LATERALITY, side, _HAS_CONCEPT_MOD)]
        )
    items: list[Dataset] = [
        hsr.CodeContentItem(codes.ACQUISITION_PLANE, codes.SINGLE_PLANE, _HAS_CONCEPT_MOD),
        hsr.UIDRefContentItem(codes.EVENT_UID, event.irradiation_event_uid, _CONTAINS),
        hsr.DateTimeContentItem(codes.STARTED, _dt(event.started), _CONTAINS),
        hsr.CodeContentItem(codes.EVENT_TYPE, codes.STATIONARY, _CONTAINS),
    ]
    if event.acquisition_protocol:
        items.append(hsr.TextContentItem(codes.PROTOCOL, event.acquisition_protocol, _CONTAINS))
    items.append(region)
    if event.view_position in VIEW_CODES:
        items.append(
            hsr.CodeContentItem(
                codes.IMAGE_VIEW, codes.sct(*VIEW_CODES[event.view_position]), _CONTAINS
            )
        )
    dose = event.dose
    items += [
        _num(codes.DAP, dose.dap_gym2, codes.GY_M2),
        _num(codes.DOSE_RP, dose.entrance_dose_mgy / 1000.0, codes.GY),
        hsr.CodeContentItem(codes.REFERENCE_POINT, codes.RP_30CM_IN_FRONT, _CONTAINS),
        _num(codes.FIELD_AREA, dose.field_area_m2, codes.M2),
    ]
    if event.exposure_index is not None and event.target_exposure_index is not None:
        items += [
            _num(codes.EI, event.exposure_index, codes.NO_UNITS),
            _num(codes.EI_T, event.target_exposure_index, codes.NO_UNITS),
            _num(codes.DI, event.deviation_index or 0.0, codes.NO_UNITS),
        ]
    items += [
        _num(codes.KVP, event.kvp, codes.KV),
        _num(codes.TUBE_CURRENT, event.tube_current_ma, codes.MA),
        _num(codes.EXPOSURE_TIME, event.exposure_time_ms, codes.MS),
        _num(codes.EXPOSURE, event.exposure_mas * 1000.0, codes.UAS),
        _num(codes.SID, dose.sid_mm, codes.MM),
        _num(codes.SRP, dose.source_to_patient_mm, codes.MM),
    ]
    container = hsr.ContainerContentItem(codes.EVENT, relationship_type=_CONTAINS)
    container.ContentSequence = DicomSequence(items)
    return container


def _dose_source(events: Sequence[IrradiationEvent]) -> Code:
    if all(e.dose.dap_source == "generator" for e in events):
        return codes.AUTOMATED
    return codes.SYSTEM_CALCULATED


def _set(ds: Dataset, keyword: str, vr: str, value: str) -> None:
    problem = vr_problem(vr, value)
    if problem is not None:
        raise DicomBuildError(f"{keyword} ({vr}) cannot hold {value!r}: {problem}", keyword=keyword)
    setattr(ds, keyword, value)


def _document(
    ds: Dataset,
    study: StudyContext,
    device: DeviceObserver,
    *,
    when: tuple[dt.datetime, dt.datetime],
    uid_root: str,
) -> None:
    started, now = when
    local = started.astimezone()
    # SOP Common (C.12.1)
    ds.SpecificCharacterSet = _character_set(study, device)
    ds.SOPClassUID = XRAY_RADIATION_DOSE_SR
    ds.SOPInstanceUID = generate_uid(prefix=uid_root)
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    ds.TimezoneOffsetFromUTC = now.strftime("%z")  # for every DA, TM and DT here
    # Patient (C.7.1.1) and General Study (C.7.2.1), as in the images
    _set(ds, "PatientName", "PN", study.patient_name)
    _set(ds, "PatientID", "LO", study.patient_id)
    _set(ds, "PatientBirthDate", "DA", study.patient_birth_date)
    _set(ds, "PatientSex", "CS", study.patient_sex)
    age = _patient_age(study.patient_birth_date, local.date())
    if age:  # Patient Study (C.7.2.2); IHE REM asks for it when known
        ds.PatientAge = age
    _patient_study(ds, study)
    _set(ds, "StudyInstanceUID", "UI", str(study.study_instance_uid))
    _set(ds, "StudyDate", "DA", local.strftime("%Y%m%d"))
    _set(ds, "StudyTime", "TM", local.strftime("%H%M%S"))
    _set(ds, "ReferringPhysicianName", "PN", study.referring_physician_name)
    _set(ds, "StudyID", "SH", study.study_id)
    _set(ds, "AccessionNumber", "SH", study.accession_number)
    _set(ds, "StudyDescription", "LO", study.study_description)
    # SR Document Series (C.17.1)
    ds.Modality = "SR"
    ds.SeriesInstanceUID = generate_uid(prefix=uid_root)
    ds.SeriesDescription = "Radiation Dose Report"
    # General Equipment (C.7.5.1) and Enhanced General Equipment (C.7.5.2): Type 1 there
    _set(ds, "Manufacturer", "LO", device.manufacturer)
    _set(ds, "ManufacturerModelName", "LO", device.model)
    _set(ds, "DeviceSerialNumber", "LO", device.serial)
    # SR Document General (C.17.2): a complete, unverified machine report
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = [_code_item(c) for c in _performed_procedure(study)]


def _performed_procedure(study: StudyContext) -> tuple[ProtocolCode, ...]:
    """Return what was performed (0040,A372): as requested, else scheduled, else Projection X-Ray.

    IHE REM (and dciodvfy's ``-profile IHEREM``) wants the sequence non-empty; without a
    code from the worklist the SR names the procedure it reports (PS3.16 DCM 113704).
    """
    if study.requested_procedure_codes:
        return study.requested_procedure_codes
    if study.scheduled_protocol_codes:
        return study.scheduled_protocol_codes
    xray = codes.PROJECTION_XRAY
    return (ProtocolCode(xray.value, xray.scheme_designator, xray.meaning),)


def _patient_study(ds: Dataset, study: StudyContext) -> None:
    """Admitting diagnoses, weight and size (PS3.3 C.7.2.2), each only when known.

    IHE REM (RAD TF-2 4.62) asks for them; dciodvfy's ``-profile IHEREM`` checks them as
    Type 1, so an unknown one is left out rather than sent empty (an empty one is an
    error there too, and the Admitting Diagnoses Code Sequence may not be empty at all).
    """
    if study.admitting_diagnoses_description:
        _set(ds, "AdmittingDiagnosesDescription", "LO", study.admitting_diagnoses_description)
    if study.admitting_diagnoses_codes:
        ds.AdmittingDiagnosesCodeSequence = [_code_item(c) for c in study.admitting_diagnoses_codes]
    for keyword, value in (
        ("PatientWeight", study.patient_weight_kg),
        ("PatientSize", study.patient_size_m),
    ):
        if value is not None:
            _set(ds, keyword, "DS", _ds_text(value, keyword))


def _ds_text(value: float, keyword: str) -> str:
    if not (math.isfinite(value) and value > 0):
        raise DicomBuildError(f"{keyword} must be positive, got {value!r}", keyword=keyword)
    return f"{value:.6g}"


def _code_item(code: ProtocolCode) -> Dataset:
    item = Dataset()
    item.CodeValue = code.value
    item.CodingSchemeDesignator = code.scheme
    item.CodeMeaning = code.meaning
    return item


def _patient_age(birth_date: str, on: dt.date) -> str:
    """Patient Age (AS, PS3.5) at ``on`` from a DA birth date; empty when unknown."""
    try:
        born = dt.datetime.strptime(birth_date, "%Y%m%d").date()
    except ValueError:
        return ""
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    if years >= 2:
        return f"{min(years, 999):03d}Y"
    days = (on - born).days
    return f"{days // 30:03d}M" if days >= 31 else f"{max(days, 0):03d}D"


def _character_set(study: StudyContext, device: DeviceObserver) -> str:
    """ISO_IR 100 (Latin-1) when every text fits it, else ISO_IR 192 (UTF-8)."""
    texts = [study.patient_name, study.study_description, device.name, device.serial]
    try:
        for text in texts:
            text.encode("latin-1")
    except UnicodeEncodeError:
        return "ISO_IR 192"
    return "ISO_IR 100"

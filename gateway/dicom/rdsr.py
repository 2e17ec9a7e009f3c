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
from collections.abc import Sequence

import highdicom.sr as hsr
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.sr.coding import Code
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from panelgate.gateway.errors import DicomBuildError

from .context import ANATOMY_CODES, VIEW_CODES, StudyContext
from .dose_event import DeviceObserver, IrradiationEvent
from .vr import vr_problem

__all__ = ["XRAY_RADIATION_DOSE_SR", "build_dose_report"]

XRAY_RADIATION_DOSE_SR = UID("1.2.840.10008.5.1.4.1.1.88.67")

_IMPLEMENTATION_VERSION = "PANELGATE_01"


def _dcm(value: str, meaning: str) -> Code:
    return Code(value, "DCM", meaning)


def _sct(value: str, meaning: str) -> Code:
    return Code(value, "SCT", meaning)


def _ucum(value: str, meaning: str) -> Code:
    return Code(value, "UCUM", meaning)


# PS3.16 codes (DCM: Annex D; SCT from pydicom's codes.SCT, generated from the standard)
_REPORT = _dcm("113701", "X-Ray Radiation Dose Report")
_PROCEDURE_REPORTED = _dcm("121058", "Procedure reported")
_PROJECTION_XRAY = _dcm("113704", "Projection X-Ray")
_HAS_INTENT = _sct("363703001", "Has intent (attribute)")
_DIAGNOSTIC_INTENT = _sct("261004008", "Diagnostic Intent")
_ACQUISITION_DEVICE_TYPE = _dcm("122142", "Acquisition Device Type")
_INTEGRATED_PROJECTION = _dcm("113958", "Integrated Projection Radiography System")  # CID 10032
_SCOPE = _dcm("113705", "Scope of Accumulation")
_STUDY = _dcm("113014", "Study")
_STUDY_UID = _dcm("110180", "Study Instance UID")
_START = _dcm("113809", "Start of X-Ray Irradiation")
_END = _dcm("113810", "End of X-Ray Irradiation")
_SOURCE_OF_DOSE = _dcm("113854", "Source of Dose Information")
_AUTOMATED = _dcm("113856", "Automated Data Collection")  # CID 10020: measured (DAP meter)
_SYSTEM_CALCULATED = _dcm("113940", "System Calculated")  # CID 10020: tube-output model
_ACCUMULATED = _dcm("113702", "Accumulated X-Ray Dose Data")
_ACQUISITION_PLANE = _dcm("113764", "Acquisition Plane")
_SINGLE_PLANE = _dcm("113622", "Single Plane")
_EVENT = _dcm("113706", "Irradiation Event X-Ray Data")
_EVENT_UID = _dcm("113769", "Irradiation Event UID")
_STARTED = _dcm("111526", "DateTime Started")
_EVENT_TYPE = _dcm("113721", "Irradiation Event Type")
_STATIONARY = _dcm("113611", "Stationary Acquisition")
_PROTOCOL = _dcm("125203", "Acquisition Protocol")
_TARGET_REGION = _dcm("123014", "Target Region")
_LATERALITY = _sct("272741003", "Laterality")
_IMAGE_VIEW = _dcm("111031", "Image View")
_DAP = _dcm("122130", "Dose Area Product")
_DOSE_RP = _dcm("113738", "Dose (RP)")
_REFERENCE_POINT = _dcm("113780", "Reference Point Definition")
_RP_30CM_IN_FRONT = _dcm("113861", "30cm in Front of Image Input Surface")  # CID 10025
_FIELD_AREA = _dcm("113790", "Collimated Field Area")
_EI = _dcm("113845", "Exposure Index")
_EI_T = _dcm("113846", "Target Exposure Index")
_DI = _dcm("113847", "Deviation Index")
_KVP = _dcm("113733", "KVP")
_TUBE_CURRENT = _dcm("113734", "X-Ray Tube Current")
_EXPOSURE_TIME = _dcm("113824", "Exposure Time")
_EXPOSURE = _dcm("113736", "Exposure")
_SID = _dcm("113750", "Distance Source to Detector")
_SRP = _dcm("113737", "Distance Source to Reference Point")
_DAP_TOTAL = _dcm("113722", "Dose Area Product Total")
_DOSE_RP_TOTAL = _dcm("113725", "Dose (RP) Total")
_FLUORO_DAP_TOTAL = _dcm("113726", "Fluoro Dose Area Product Total")
_FLUORO_DOSE_RP_TOTAL = _dcm("113728", "Fluoro Dose (RP) Total")
_FLUORO_TIME = _dcm("113730", "Total Fluoro Time")
_ACQ_DAP_TOTAL = _dcm("113727", "Acquisition Dose Area Product Total")
_ACQ_DOSE_RP_TOTAL = _dcm("113729", "Acquisition Dose (RP) Total")
_ACQ_TIME = _dcm("113855", "Total Acquisition Time")
_FRAMES = _dcm("113731", "Total Number of Radiographic Frames")
_OBSERVER_TYPE = _dcm("121005", "Observer Type")
_DEVICE = _dcm("121007", "Device")
_DEVICE_UID = _dcm("121012", "Device Observer UID")
_DEVICE_NAME = _dcm("121013", "Device Observer Name")
_DEVICE_MANUFACTURER = _dcm("121014", "Device Observer Manufacturer")
_DEVICE_MODEL = _dcm("121015", "Device Observer Model Name")
_DEVICE_SERIAL = _dcm("121016", "Device Observer Serial Number")
_DEVICE_ROLE = _dcm("113876", "Device Role in Procedure")
_IRRADIATING = _dcm("113859", "Irradiating Device")

_GY_M2 = _ucum("Gy.m2", "Gy.m2")
_GY = _ucum("Gy", "Gy")
_M2 = _ucum("m2", "m2")
_MM = _ucum("mm", "mm")
_S = _ucum("s", "s")
_MS = _ucum("ms", "ms")
_MA = _ucum("mA", "mA")
_KV = _ucum("kV", "kV")
_UAS = _ucum("uA.s", "uA.s")
_NO_UNITS = _ucum("1", "no units")

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
    root = hsr.ContainerContentItem(_REPORT, template_id="10001")
    root.ContentSequence = DicomSequence(
        [
            *_header(ordered, study, device),
            _accumulated(ordered),
            *(_event(e) for e in ordered),
            hsr.CodeContentItem(_SOURCE_OF_DOSE, _dose_source(ordered), _CONTAINS),
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
    procedure = hsr.CodeContentItem(_PROCEDURE_REPORTED, _PROJECTION_XRAY, _HAS_CONCEPT_MOD)
    procedure.ContentSequence = DicomSequence(
        [hsr.CodeContentItem(_HAS_INTENT, _DIAGNOSTIC_INTENT, _HAS_CONCEPT_MOD)]
    )
    scope = hsr.CodeContentItem(_SCOPE, _STUDY, _HAS_OBS_CONTEXT)
    scope.ContentSequence = DicomSequence(
        [hsr.UIDRefContentItem(_STUDY_UID, str(study.study_instance_uid), _HAS_PROPERTIES)]
    )
    last = events[-1]
    end = last.started + dt.timedelta(milliseconds=last.exposure_time_ms)
    return [
        procedure,
        *_observer(device),
        hsr.DateTimeContentItem(_START, _dt(events[0].started), _HAS_OBS_CONTEXT),
        hsr.DateTimeContentItem(_END, _dt(end), _HAS_OBS_CONTEXT),
        scope,
        hsr.CodeContentItem(_ACQUISITION_DEVICE_TYPE, _INTEGRATED_PROJECTION, _CONTAINS),
    ]


def _observer(device: DeviceObserver) -> list[Dataset]:
    # TID 1002 Observer Context with TID 1004 Device Observer Identifying Attributes
    items: list[Dataset] = [
        hsr.CodeContentItem(_OBSERVER_TYPE, _DEVICE, _HAS_OBS_CONTEXT),
        hsr.UIDRefContentItem(_DEVICE_UID, device.uid, _HAS_OBS_CONTEXT),
    ]
    for name, value in (
        (_DEVICE_NAME, device.name),
        (_DEVICE_MANUFACTURER, device.manufacturer),
        (_DEVICE_MODEL, device.model),
        (_DEVICE_SERIAL, device.serial),
    ):
        if value:
            items.append(hsr.TextContentItem(name, value, _HAS_OBS_CONTEXT))
    items.append(hsr.CodeContentItem(_DEVICE_ROLE, _IRRADIATING, _HAS_OBS_CONTEXT))
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
    container = hsr.ContainerContentItem(_ACCUMULATED, relationship_type=_CONTAINS)
    container.ContentSequence = DicomSequence(
        [
            hsr.CodeContentItem(_ACQUISITION_PLANE, _SINGLE_PLANE, _HAS_CONCEPT_MOD),
            _num(_FLUORO_DAP_TOTAL, 0.0, _GY_M2),
            _num(_FLUORO_DOSE_RP_TOTAL, 0.0, _GY),
            _num(_FLUORO_TIME, 0.0, _S),
            _num(_ACQ_DAP_TOTAL, dap_gym2, _GY_M2),
            _num(_ACQ_DOSE_RP_TOTAL, dose_rp_gy, _GY),
            _num(_ACQ_TIME, sum(e.exposure_time_ms for e in events) / 1000.0, _S),
            _num(_DAP_TOTAL, dap_gym2, _GY_M2),
            _num(_DOSE_RP_TOTAL, dose_rp_gy, _GY),
            _num(_FRAMES, len(events), _NO_UNITS),
            hsr.CodeContentItem(_REFERENCE_POINT, _RP_30CM_IN_FRONT, _CONTAINS),
        ]
    )
    return container


def _event(event: IrradiationEvent) -> Dataset:
    # TID 10003 Irradiation Event X-Ray Data with 10003A (detector), B (source), C (mechanical)
    if event.body_part not in ANATOMY_CODES:
        raise DicomBuildError(f"unknown body part {event.body_part!r}", keyword="BodyPartExamined")
    region = hsr.CodeContentItem(_TARGET_REGION, _sct(*ANATOMY_CODES[event.body_part]), _CONTAINS)
    if event.image_laterality in _LATERALITIES:
        side = _LATERALITIES[event.image_laterality]
        region.ContentSequence = DicomSequence(
            [hsr.CodeContentItem(_LATERALITY, side, _HAS_CONCEPT_MOD)]
        )
    items: list[Dataset] = [
        hsr.CodeContentItem(_ACQUISITION_PLANE, _SINGLE_PLANE, _HAS_CONCEPT_MOD),
        hsr.UIDRefContentItem(_EVENT_UID, event.irradiation_event_uid, _CONTAINS),
        hsr.DateTimeContentItem(_STARTED, _dt(event.started), _CONTAINS),
        hsr.CodeContentItem(_EVENT_TYPE, _STATIONARY, _CONTAINS),
    ]
    if event.acquisition_protocol:
        items.append(hsr.TextContentItem(_PROTOCOL, event.acquisition_protocol, _CONTAINS))
    items.append(region)
    if event.view_position in VIEW_CODES:
        items.append(
            hsr.CodeContentItem(_IMAGE_VIEW, _sct(*VIEW_CODES[event.view_position]), _CONTAINS)
        )
    dose = event.dose
    items += [
        _num(_DAP, dose.dap_gym2, _GY_M2),
        _num(_DOSE_RP, dose.entrance_dose_mgy / 1000.0, _GY),
        hsr.CodeContentItem(_REFERENCE_POINT, _RP_30CM_IN_FRONT, _CONTAINS),
        _num(_FIELD_AREA, dose.field_area_m2, _M2),
    ]
    if event.exposure_index is not None and event.target_exposure_index is not None:
        items += [
            _num(_EI, event.exposure_index, _NO_UNITS),
            _num(_EI_T, event.target_exposure_index, _NO_UNITS),
            _num(_DI, event.deviation_index or 0.0, _NO_UNITS),
        ]
    items += [
        _num(_KVP, event.kvp, _KV),
        _num(_TUBE_CURRENT, event.tube_current_ma, _MA),
        _num(_EXPOSURE_TIME, event.exposure_time_ms, _MS),
        _num(_EXPOSURE, event.exposure_mas * 1000.0, _UAS),
        _num(_SID, dose.sid_mm, _MM),
        _num(_SRP, dose.source_to_patient_mm, _MM),
    ]
    container = hsr.ContainerContentItem(_EVENT, relationship_type=_CONTAINS)
    container.ContentSequence = DicomSequence(items)
    return container


_LATERALITIES = {
    # Image Laterality -> CID 244 "Laterality" (SCT)
    "R": _sct("24028007", "Right"),
    "L": _sct("7771000", "Left"),
    "B": _sct("51440002", "Bilateral"),
}


def _dose_source(events: Sequence[IrradiationEvent]) -> Code:
    if all(e.dose.dap_source == "generator" for e in events):
        return _AUTOMATED
    return _SYSTEM_CALCULATED


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
    codes = []
    for protocol in study.scheduled_protocol_codes:  # what was performed, as scheduled
        item = Dataset()
        item.CodeValue = protocol.value
        item.CodingSchemeDesignator = protocol.scheme
        item.CodeMeaning = protocol.meaning
        codes.append(item)
    ds.PerformedProcedureCodeSequence = codes


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

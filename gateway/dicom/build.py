"""Digital X-Ray Image Storage – For Presentation and For Processing (PS3.3 A.26, DX IOD).

Every mandatory module of the DX IOD is filled from real data: Patient, General Study,
General Series, DX Series, General Equipment, General Acquisition, General Image, Image
Pixel, DX Anatomy Imaged, DX Image, DX Detector, VOI LUT, Acquisition Context and SOP
Common, plus the X-Ray Acquisition Dose attributes (kVp, µAs, exposure time, and the
Exposure Index macro of IEC 62494-1). Every value is checked against its VR before
anything is written; dciodvfy accepts the result without errors (tests prove it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from panelgate.drivers import DetectorInfo, FrameMeta
from panelgate.gateway.errors import DicomBuildError

from .context import ANATOMY_CODES, VIEW_CODES, ExposureIndex, StudyContext, Technique
from .identifiers import uid_root_problem
from .vr import vr_problem
from .window import Window

__all__ = [
    "DEFAULT_UID_ROOT",
    "DX_FOR_PRESENTATION",
    "DX_FOR_PROCESSING",
    "Provenance",
    "build_dx_for_presentation",
    "build_dx_for_processing",
    "check_dx_header",
]

DX_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")
DX_FOR_PROCESSING = UID("1.2.840.10008.5.1.4.1.1.1.1.1")
DEFAULT_UID_ROOT = "1.2.826.0.1.3680043.8.498."
"""pydicom's UID root; a site sets its own organisation root in the configuration."""

_IMPLEMENTATION_VERSION = "PANELGATE_01"


@dataclass(frozen=True)
class Provenance:
    """How the pixels were processed: written to Acquisition Device Processing Description."""

    calibration_set_id: str
    calibration_utc: dt.datetime
    pedestal_counts: float
    software_version: str


def build_dx_for_processing(
    pixels: npt.NDArray[np.uint16],
    *,
    study: StudyContext,
    technique: Technique,
    detector: DetectorInfo,
    frame: FrameMeta,
    provenance: Provenance,
    exposure: ExposureIndex | None = None,
    uid_root: str = DEFAULT_UID_ROOT,
    institution_name: str = "",
    station_name: str = "",
    series_number: int = 1,
    instance_number: int = 1,
    monochrome1: bool = False,
) -> Dataset:
    """Build a DX For Processing dataset (PS3.3 A.26; the image meant for further processing).

    Same parameters and modules as :func:`build_dx_for_presentation`, without the VOI LUT
    module, which the For Processing SOP class forbids (PS3.3 C.8.11.3.1.5).

    Raises
    ------
    DicomBuildError
        A value does not fit its VR, the UID root is malformed, or the pixels are not uint16 2-D.
    """
    return _build_dx(
        pixels,
        intent="FOR PROCESSING",
        window=None,
        study=study,
        technique=technique,
        detector=detector,
        frame=frame,
        provenance=provenance,
        exposure=exposure,
        uid_root=uid_root,
        institution_name=institution_name,
        station_name=station_name,
        series_number=series_number,
        instance_number=instance_number,
        monochrome1=monochrome1,
    )


def check_dx_header(
    *,
    study: StudyContext,
    technique: Technique,
    detector: DetectorInfo,
    frame: FrameMeta,
    provenance: Provenance,
    uid_root: str = DEFAULT_UID_ROOT,
    institution_name: str = "",
    station_name: str = "",
    monochrome1: bool = False,
) -> Dataset:
    """Build and validate the header of the DX instance an exposure will make, without pixels.

    Run before the generator is asked to prepare: every patient, study, request, equipment
    and acquisition attribute goes through the same VR validation (PS3.5 6.2: length,
    character repertoire, PN component rules, DA/TM/UI syntax) as the final instance, so a
    value that cannot be stored refuses the exposure instead of failing after the beam.
    The window, the Exposure Index and the technique's delivered values are placeholders
    of valid form; they are computed after the exposure.

    Returns
    -------
    pydicom.dataset.Dataset
        The header, for inspection; not an instance (no pixels, no file meta).

    Raises
    ------
    DicomBuildError
        A value does not fit its VR (``keyword`` names the attribute), an unknown body part
        or view, or a malformed UID root.
    """
    return _build_dx(
        None,
        intent="FOR PRESENTATION",
        window=Window(center=2048.0, width=4096.0),
        study=study,
        technique=technique,
        detector=detector,
        frame=frame,
        provenance=provenance,
        exposure=ExposureIndex(ei=400.0, target_ei=400.0),
        uid_root=uid_root,
        institution_name=institution_name,
        station_name=station_name,
        series_number=1,
        instance_number=1,
        monochrome1=monochrome1,
    )


def build_dx_for_presentation(
    pixels: npt.NDArray[np.uint16],
    *,
    study: StudyContext,
    technique: Technique,
    detector: DetectorInfo,
    frame: FrameMeta,
    provenance: Provenance,
    window: Window,
    exposure: ExposureIndex | None = None,
    uid_root: str = DEFAULT_UID_ROOT,
    institution_name: str = "",
    station_name: str = "",
    series_number: int = 1,
    instance_number: int = 1,
    monochrome1: bool = False,
    pixel_intensity: tuple[str, int] = ("LIN", 1),
    window_explanation: str = "HISTOGRAM 0.5-99.5%",
) -> Dataset:
    """Build a DX For Presentation dataset from a corrected frame.

    Parameters
    ----------
    pixels : numpy.ndarray
        Corrected uint16 image, rows × columns.
    study, technique : StudyContext, Technique
        Who was imaged and how.
    detector, frame : DetectorInfo, FrameMeta
        The detector and the readout the image came from.
    provenance : Provenance
        The calibration applied.
    window : Window
        Default display window (VOI LUT Module, required for For Presentation).
    exposure : ExposureIndex, optional
        Exposure Index and target; omitted when the detector has no dose calibration.
    uid_root : str
        Organisation UID root, ending in ``.``, for the UIDs generated here.
    monochrome1 : bool
        Write MONOCHROME1 (bright = low dose) with Presentation LUT Shape INVERSE.
    pixel_intensity : tuple of (str, int)
        Pixel Intensity Relationship (``LIN`` or ``LOG``) and its Sign (+1: lower values
        are less X-ray intensity, -1: more), PS3.3 C.8.11.3.1.2; ``("LOG", 1)`` for a
        processed MONOCHROME1 image.
    window_explanation : str
        Window Center & Width Explanation (0028,1055), LO.

    Returns
    -------
    pydicom.dataset.Dataset
        With ``file_meta`` set, ready for :func:`panelgate.gateway.dicom.write.write_atomic`.

    Raises
    ------
    DicomBuildError
        A value does not fit its VR, the UID root is malformed, or the pixels are not uint16 2-D.
    """
    return _build_dx(
        pixels,
        intent="FOR PRESENTATION",
        window=window,
        study=study,
        technique=technique,
        detector=detector,
        frame=frame,
        provenance=provenance,
        exposure=exposure,
        uid_root=uid_root,
        institution_name=institution_name,
        station_name=station_name,
        series_number=series_number,
        instance_number=instance_number,
        monochrome1=monochrome1,
        pixel_intensity=pixel_intensity,
        window_explanation=window_explanation,
    )


def _build_dx(
    pixels: npt.NDArray[np.uint16] | None,
    *,
    intent: str,
    window: Window | None,
    study: StudyContext,
    technique: Technique,
    detector: DetectorInfo,
    frame: FrameMeta,
    provenance: Provenance,
    exposure: ExposureIndex | None,
    uid_root: str,
    institution_name: str,
    station_name: str,
    series_number: int,
    instance_number: int,
    monochrome1: bool,
    pixel_intensity: tuple[str, int] = ("LIN", 1),
    window_explanation: str = "HISTOGRAM 0.5-99.5%",
) -> Dataset:
    sop_class = DX_FOR_PRESENTATION if intent == "FOR PRESENTATION" else DX_FOR_PROCESSING
    if pixels is not None and (pixels.ndim != 2 or pixels.dtype != np.uint16):
        raise DicomBuildError(
            f"DX pixels must be 2-D uint16, got {pixels.dtype} with shape {pixels.shape}"
        )
    if technique.body_part not in ANATOMY_CODES:
        raise DicomBuildError(
            f"unknown body part {technique.body_part!r}; known: {', '.join(sorted(ANATOMY_CODES))}",
            keyword="BodyPartExamined",
        )
    if technique.view_position and technique.view_position not in VIEW_CODES:
        raise DicomBuildError(
            f"unknown view position {technique.view_position!r}; "
            f"known: {', '.join(sorted(VIEW_CODES))}",
            keyword="ViewPosition",
        )
    _check_uid_root(uid_root)
    now = dt.datetime.now().astimezone()
    acquired = frame.t_utc.astimezone()
    sop_instance_uid = generate_uid(prefix=uid_root)
    values = _Values()
    _sop_patient_study_series(
        values,
        study=study,
        technique=technique,
        sop_instance_uid=sop_instance_uid,
        uid_root=uid_root,
        acquired=acquired,
        now=now,
        series_number=series_number,
        sop_class=sop_class,
        intent=intent,
    )
    _equipment(
        values,
        detector=detector,
        provenance=provenance,
        institution_name=institution_name,
        station_name=station_name,
    )
    _image(
        values,
        technique=technique,
        provenance=provenance,
        acquired=acquired,
        now=now,
        instance_number=instance_number,
        monochrome1=monochrome1,
        pixel_intensity=pixel_intensity,
    )
    _detector(values, detector, frame, provenance)
    _dose(values, technique, exposure)
    # Acquisition Context (C.4.15): empty sequence allowed
    values.ds.AcquisitionContextSequence = []
    if window is not None:
        # VOI LUT (C.11.2): required for For Presentation, forbidden for For Processing
        values.set("WindowCenter", "DS", f"{window.center:.1f}")
        values.set("WindowWidth", "DS", f"{window.width:.1f}")
        values.set("WindowCenterWidthExplanation", "LO", window_explanation)
        values.set("VOILUTFunction", "CS", "LINEAR")

    ds = values.ds
    ds.SpecificCharacterSet = values.character_set()
    if pixels is None:  # a header checked before the exposure: see check_dx_header
        return ds
    ds.set_pixel_data(
        pixels,
        photometric_interpretation="MONOCHROME1" if monochrome1 else "MONOCHROME2",
        bits_stored=detector.bits_stored,
        generate_instance_uid=False,  # pydicom would otherwise replace our SOP Instance UID
    )
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationVersionName = _IMPLEMENTATION_VERSION
    ds.file_meta = meta
    return ds


class _Values:
    """Sets attributes after checking each value against its VR (PS3.5 6.2)."""

    def __init__(self) -> None:
        self.ds = Dataset()
        self._texts: list[str] = []

    def set(self, keyword: str, vr: str, value: Any) -> None:
        items: Sequence[Any] = value if isinstance(value, list) else [value]
        for item in items:
            problem = vr_problem(vr, item)
            if problem is not None:
                raise DicomBuildError(
                    f"{keyword} ({vr}) cannot hold {item!r}: {problem}", keyword=keyword
                )
            if isinstance(item, str):
                self._texts.append(item)
        setattr(self.ds, keyword, value)

    def absorb(self, other: _Values) -> None:
        """Count the texts of a nested item towards the character set."""
        self._texts.extend(other._texts)

    def character_set(self) -> str:
        """ISO_IR 100 (Latin-1) when every text fits it, else ISO_IR 192 (UTF-8)."""
        try:
            for text in self._texts:
                text.encode("latin-1")
        except UnicodeEncodeError:
            return "ISO_IR 192"
        return "ISO_IR 100"


def _sop_patient_study_series(
    values: _Values,
    *,
    study: StudyContext,
    technique: Technique,
    sop_instance_uid: str,
    uid_root: str,
    acquired: dt.datetime,
    now: dt.datetime,
    series_number: int,
    sop_class: str,
    intent: str,
) -> None:
    # SOP Common (C.12.1)
    values.set("SOPClassUID", "UI", sop_class)
    values.set("SOPInstanceUID", "UI", sop_instance_uid)
    values.set("InstanceCreationDate", "DA", now.strftime("%Y%m%d"))
    values.set("InstanceCreationTime", "TM", now.strftime("%H%M%S.%f"))
    # Patient (C.7.1.1)
    values.set("PatientName", "PN", study.patient_name)
    values.set("PatientID", "LO", study.patient_id)
    values.set("PatientBirthDate", "DA", study.patient_birth_date)
    values.set("PatientSex", "CS", study.patient_sex)
    # General Study (C.7.2.1)
    values.set("StudyInstanceUID", "UI", study.study_instance_uid or generate_uid(prefix=uid_root))
    values.set("StudyDate", "DA", acquired.strftime("%Y%m%d"))
    values.set("StudyTime", "TM", acquired.strftime("%H%M%S"))
    values.set("ReferringPhysicianName", "PN", study.referring_physician_name)
    values.set("StudyID", "SH", study.study_id)
    values.set("AccessionNumber", "SH", study.accession_number)
    values.set("StudyDescription", "LO", study.study_description)
    # General Series (C.7.3.1) and DX Series (C.8.11.1); no Laterality: DX uses Image Laterality
    values.set("Modality", "CS", "DX")
    values.set("SeriesInstanceUID", "UI", generate_uid(prefix=uid_root))
    values.set("SeriesNumber", "IS", str(series_number))
    values.set("SeriesDate", "DA", acquired.strftime("%Y%m%d"))
    values.set("SeriesTime", "TM", acquired.strftime("%H%M%S"))
    values.set("BodyPartExamined", "CS", technique.body_part)
    _request_attributes(values, study)
    values.set("PresentationIntentType", "CS", intent)


def _request_attributes(values: _Values, study: StudyContext) -> None:
    # Request Attributes Sequence (0040,0275) of the worklist item (PS3.17 Annex J)
    if not (study.requested_procedure_id or study.scheduled_procedure_step_id):
        return
    item = _Values()
    item.set("RequestedProcedureID", "SH", study.requested_procedure_id)
    item.set("ScheduledProcedureStepID", "SH", study.scheduled_procedure_step_id)
    if study.scheduled_procedure_step_description:
        item.set(
            "ScheduledProcedureStepDescription", "LO", study.scheduled_procedure_step_description
        )
    if study.requested_procedure_description:
        item.set("RequestedProcedureDescription", "LO", study.requested_procedure_description)
    if study.scheduled_protocol_codes:
        codes = []
        for code in study.scheduled_protocol_codes:
            entry = _Values()
            entry.set("CodeValue", "SH", code.value)
            entry.set("CodingSchemeDesignator", "SH", code.scheme)
            entry.set("CodeMeaning", "LO", code.meaning)
            codes.append(entry.ds)
            item.absorb(entry)
        item.ds.ScheduledProtocolCodeSequence = codes
    values.ds.RequestAttributesSequence = [item.ds]
    values.absorb(item)


def _equipment(
    values: _Values,
    *,
    detector: DetectorInfo,
    provenance: Provenance,
    institution_name: str,
    station_name: str,
) -> None:
    # General Equipment (C.7.5.1)
    values.set("Manufacturer", "LO", "panelgate")
    values.set("InstitutionName", "LO", institution_name)
    values.set("StationName", "SH", station_name)
    values.set("ManufacturerModelName", "LO", "panelgate")
    values.set("DeviceSerialNumber", "LO", detector.serial)
    values.set("SoftwareVersions", "LO", [provenance.software_version, detector.firmware])


def _image(
    values: _Values,
    *,
    technique: Technique,
    provenance: Provenance,
    acquired: dt.datetime,
    now: dt.datetime,
    instance_number: int,
    monochrome1: bool,
    pixel_intensity: tuple[str, int] = ("LIN", 1),
) -> None:
    # General Acquisition (C.7.10.1) and General Image (C.7.6.1)
    values.set("AcquisitionDateTime", "DT", acquired.strftime("%Y%m%d%H%M%S.%f%z"))
    values.set("ContentDate", "DA", now.strftime("%Y%m%d"))
    values.set("ContentTime", "TM", now.strftime("%H%M%S"))
    values.set("InstanceNumber", "IS", str(instance_number))
    values.set("PatientOrientation", "CS", list(technique.patient_orientation))
    values.set("ImageType", "CS", ["ORIGINAL", "PRIMARY"])
    values.set("BurnedInAnnotation", "CS", "NO")
    values.set("LossyImageCompression", "CS", "00")
    # DX Anatomy Imaged (C.8.11.2)
    values.set("ImageLaterality", "CS", technique.image_laterality)
    code_value, meaning = ANATOMY_CODES[technique.body_part]
    values.ds.AnatomicRegionSequence = [_code(code_value, meaning)]
    # DX Positioning (C.8.11.5)
    if technique.view_position:
        values.set("ViewPosition", "CS", technique.view_position)
        values.ds.ViewCodeSequence = [_code(*VIEW_CODES[technique.view_position])]
        values.set("PositionerType", "CS", "")
    # DX Image (C.8.11.3)
    values.set("PixelIntensityRelationship", "CS", pixel_intensity[0])
    values.set("PixelIntensityRelationshipSign", "SS", pixel_intensity[1])
    values.set("RescaleIntercept", "DS", "0")
    values.set("RescaleSlope", "DS", "1")
    values.set("RescaleType", "LO", "US")
    values.set("PresentationLUTShape", "CS", "INVERSE" if monochrome1 else "IDENTITY")
    values.set(
        "AcquisitionDeviceProcessingDescription",
        "LO",
        f"offset gain defect corrected, calibration {provenance.calibration_set_id}",
    )


def _detector(
    values: _Values, detector: DetectorInfo, frame: FrameMeta, provenance: Provenance
) -> None:
    # DX Detector (C.8.11.4)
    values.set("DetectorType", "CS", detector.detector_type)
    values.set("DetectorID", "SH", detector.serial[:16])
    values.set("DetectorManufacturerName", "LO", detector.manufacturer)
    values.set("DetectorManufacturerModelName", "LO", detector.model)
    binning = frame.mode.binning
    spacing = f"{detector.pixel_pitch_mm * binning:.4f}"
    values.set("ImagerPixelSpacing", "DS", [spacing, spacing])
    values.set("DetectorBinning", "DS", [str(binning), str(binning)])
    values.set("DetectorTemperature", "DS", f"{frame.temp_c:.1f}")
    cal = provenance.calibration_utc.astimezone()
    values.set("DateOfLastDetectorCalibration", "DA", cal.strftime("%Y%m%d"))
    values.set("TimeOfLastDetectorCalibration", "TM", cal.strftime("%H%M%S"))


def _dose(values: _Values, technique: Technique, exposure: ExposureIndex | None) -> None:
    # X-Ray Acquisition Dose (C.8.7.8) with the Exposure Index macro
    if technique.kvp is not None:
        values.set("KVP", "DS", f"{technique.kvp:.1f}")
    if technique.exposure_uas is not None:
        values.set("ExposureInuAs", "IS", str(round(technique.exposure_uas)))
    if technique.exposure_time_ms is not None:
        values.set("ExposureTimeInuS", "DS", f"{technique.exposure_time_ms * 1000:.0f}")
    if exposure is not None:
        values.set("ExposureIndex", "DS", f"{exposure.ei:.1f}")
        values.set("TargetExposureIndex", "DS", f"{exposure.target_ei:.1f}")
        values.set("DeviationIndex", "DS", f"{exposure.deviation_index:.2f}")
        # Relative X-Ray Exposure (C.8.11.3): the IEC 62494-1 EI, the vendor-neutral one
        values.set("RelativeXRayExposure", "IS", str(round(exposure.ei)))
    if technique.irradiation_event_uid:  # General Acquisition; the dose SR's key (TID 10003)
        values.set("IrradiationEventUID", "UI", technique.irradiation_event_uid)
    dose = technique.dose
    if dose is not None:  # the same values the dose SR reports (gateway/dicom/dose.py)
        values.set("ImageAndFluoroscopyAreaDoseProduct", "DS", _ds(dose.dap_dgycm2))
        values.set("EntranceDoseInmGy", "DS", _ds(dose.entrance_dose_mgy))
        values.set("DistanceSourceToDetector", "DS", _ds(dose.sid_mm))
        values.set("DistanceSourceToPatient", "DS", _ds(dose.source_to_patient_mm))


def _ds(value: float) -> str:
    """Return a decimal string of 6 significant digits, within the 16 characters of DS."""
    return f"{value:.6g}"


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "SCT"
    item.CodeMeaning = meaning
    return item


def _check_uid_root(root: str) -> None:
    # PS3.5 9.1 (identifiers.py); the suffix is appended as it is, so the root ends in '.'.
    problem = uid_root_problem(root) if root.endswith(".") else f"must end in '.', got {root!r}"
    if problem is not None:
        raise DicomBuildError(f"the UID root {problem}", keyword="uid_root")

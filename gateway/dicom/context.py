"""What the DX builder needs to know beyond the pixels: who, what, how."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .dose import EventDose

__all__ = [
    "ANATOMY_CODES",
    "VIEW_CODES",
    "ExposureIndex",
    "ProtocolCode",
    "StudyContext",
    "Technique",
    "exposure_index",
]

ANATOMY_CODES: dict[str, tuple[str, str]] = {
    # Body Part Examined -> SCT code of CID 4031 "Common Anatomic Regions" (PS3.16).
    "CHEST": ("816094009", "Chest"),
    "ABDOMEN": ("818981001", "Abdomen"),
    "PELVIS": ("816092008", "Pelvis"),
    "SKULL": ("89546000", "Skull"),
    "HAND": ("85562004", "Hand"),
    "FOOT": ("56459004", "Foot"),
    "KNEE": ("72696002", "Knee"),
    "LSPINE": ("122496007", "Lumbar spine"),
    "SHOULDER": ("16982005", "Shoulder"),
}

VIEW_CODES: dict[str, tuple[str, str]] = {
    # View Position (0018,5101) -> SCT code of CID 4010 "DX View" (PS3.16).
    "PA": ("272479007", "postero-anterior"),
    "AP": ("399348003", "antero-posterior"),
    "LL": ("399173006", "left lateral"),
    "RL": ("399198007", "right lateral"),
}


@dataclass(frozen=True)
class ProtocolCode:
    """One coded entry (Code Sequence Macro, PS3.3 Table 8.8-1).

    An item of the Scheduled Protocol Code Sequence (0040,0008), the Requested Procedure
    Code Sequence (0032,1064) or the Admitting Diagnoses Code Sequence (0008,1084).
    """

    value: str
    scheme: str
    meaning: str


@dataclass(frozen=True)
class StudyContext:
    """Patient, study and requested procedure, from the worklist or from the technician.

    Values are validated against their VRs when the instance is built. The requested
    procedure fields come from a Modality Worklist item (PS3.4 K.6.1) and go into the
    image's Request Attributes Sequence (PS3.17 Annex J; ``dicom-dx.md`` section 6).

    Parameters
    ----------
    requested_procedure_id : str
        Requested Procedure ID (0040,1001).
    requested_procedure_description : str
        Requested Procedure Description (0032,1060).
    requested_procedure_codes : tuple of ProtocolCode
        Requested Procedure Code Sequence (0032,1064).
    scheduled_procedure_step_id : str
        Scheduled Procedure Step ID (0040,0009).
    scheduled_procedure_step_description : str
        Scheduled Procedure Step Description (0040,0007).
    scheduled_protocol_codes : tuple of ProtocolCode
        Scheduled Protocol Code Sequence (0040,0008).
    scheduled_station_ae : str
        Scheduled Station AE Title (0040,0001).
    scheduled_start : str
        Scheduled Procedure Step Start Date and Time, ``YYYYMMDDHHMMSS`` (or a prefix).
    modality : str
        Modality the step is scheduled on.
    admitting_diagnoses_description : str
        Admitting Diagnoses Description (0008,1080); empty when unknown.
    admitting_diagnoses_codes : tuple of ProtocolCode
        Admitting Diagnoses Code Sequence (0008,1084).
    patient_weight_kg : float or None
        Patient's Weight (0010,1030) in kg; None when unknown.
    patient_size_m : float or None
        Patient's Size (0010,1020), the height in m; None when unknown.

    The last four come from the worklist item when it has them (PS3.4 K.6.1 return
    keys); the dose SR carries them as IHE REM asks (Patient Study module, PS3.3 C.7.2.2).
    """

    patient_name: str
    patient_id: str
    patient_birth_date: str = ""
    patient_sex: str = ""
    accession_number: str = ""
    study_instance_uid: str | None = None
    study_description: str = ""
    study_id: str = "1"
    referring_physician_name: str = ""
    requested_procedure_id: str = ""
    requested_procedure_description: str = ""
    requested_procedure_codes: tuple[ProtocolCode, ...] = ()
    scheduled_procedure_step_id: str = ""
    scheduled_procedure_step_description: str = ""
    scheduled_protocol_codes: tuple[ProtocolCode, ...] = ()
    scheduled_station_ae: str = ""
    scheduled_start: str = ""
    modality: str = ""
    admitting_diagnoses_description: str = ""
    admitting_diagnoses_codes: tuple[ProtocolCode, ...] = ()
    patient_weight_kg: float | None = None
    patient_size_m: float | None = None


@dataclass(frozen=True)
class Technique:
    """How the exposure was made, as the generator reports it.

    Parameters
    ----------
    kvp : float or None
        Peak tube voltage in kV.
    exposure_uas : float or None
        Tube current-time product in µAs.
    exposure_time_ms : float or None
        Exposure duration in ms.
    body_part : str
        Body Part Examined (0018,0015); must be a key of :data:`ANATOMY_CODES`.
    view_position : str
        View Position (0018,5101): a key of :data:`VIEW_CODES`, or empty when unknown.
    image_laterality : str
        Image Laterality (0020,0062): ``R``, ``L``, ``U`` or ``B``.
    patient_orientation : tuple of str
        Patient Orientation (0020,0020), row then column direction (PS3.3 C.7.6.1.1.1).
    irradiation_event_uid : str
        Irradiation Event UID (0008,3010): the key of this exposure in the dose SR
        (PS3.16 TID 10003); empty when unknown.
    dose : EventDose or None
        DAP, entrance dose and distances of the exposure (:mod:`.dose`).
    """

    kvp: float | None = None
    exposure_uas: float | None = None
    exposure_time_ms: float | None = None
    body_part: str = "CHEST"
    view_position: str = "PA"
    image_laterality: str = "U"
    patient_orientation: tuple[str, str] = ("L", "F")
    irradiation_event_uid: str = ""
    dose: EventDose | None = None


@dataclass(frozen=True)
class ExposureIndex:
    """Exposure Index, Target Exposure Index and Deviation Index after IEC 62494-1."""

    ei: float
    target_ei: float

    @property
    def deviation_index(self) -> float:
        """DI = 10 · log10(EI / EI_T): +1 ≈ 26 % over target, −3 ≈ half the target dose."""
        return 10.0 * math.log10(self.ei / self.target_ei)


def exposure_index(
    linear_counts: npt.NDArray[np.integer],
    pedestal_counts: float,
    counts_per_ugy: float,
    target_ei: float = 400.0,
) -> ExposureIndex:
    """Estimate the Exposure Index from linear (unprocessed) detector data.

    EI = 100 · K, with K the detector air kerma in µGy (IEC 62494-1: EI 100 ≈ 1 µGy at
    RQA5). The value of interest is the median of the central third of the field, a
    simple and robust stand-in for the anatomy-dependent region of the standard.

    Parameters
    ----------
    linear_counts : numpy.ndarray
        Offset- and gain-corrected frame, linear in dose.
    pedestal_counts : float
        Constant the correction added, removed before conversion.
    counts_per_ugy : float
        Detector's calibrated response at RQA5 in counts per µGy.
    target_ei : float
        Target Exposure Index of the protocol.
    """
    if counts_per_ugy <= 0 or target_ei <= 0:
        raise ValueError("counts_per_ugy and target_ei must be positive")
    h, w = linear_counts.shape
    roi = linear_counts[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3]
    signal = max(float(np.median(roi)) - pedestal_counts, 1e-3)
    return ExposureIndex(ei=round(100.0 * signal / counts_per_ugy, 1), target_ei=target_ei)

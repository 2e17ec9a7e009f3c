"""Modality Performed Procedure Step SCU (PS3.4 Annex F; IHE RAD-6 and RAD-7).

:func:`mpps_in_progress` creates the step (N-CREATE, status ``IN PROGRESS``) when the
first exposure of a scheduled step starts; :func:`mpps_finish` closes it (N-SET,
``COMPLETED`` or ``DISCONTINUED``) with the series and images produced and the dose.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    ModalityPerformedProcedureStep,
)

from panelgate.gateway.dicom.build import DX_FOR_PRESENTATION
from panelgate.gateway.dicom.context import StudyContext
from panelgate.gateway.dicom.dose import EventDose
from panelgate.gateway.dicom.dose_event import IrradiationEvent
from panelgate.gateway.errors import DeliveryError

from .association import open_association
from .audit import SERIOUS_FAILURE, SUCCESS, AuditTrail
from .destination import Destination
from .status import Outcome, classify, describe

__all__ = ["PerformedImage", "mpps_finish", "mpps_in_progress"]

_log = logging.getLogger(__name__)

_DUPLICATE = 0x0111
"""Duplicate SOP Instance (PS3.7 C.4.1.1): the N-CREATE's step exists at the SCP already."""


@dataclass(frozen=True)
class PerformedImage:
    """An image the step produced, with the technique it was made with.

    Parameters
    ----------
    sop_class_uid, sop_instance_uid, series_instance_uid : str
        Identity of the image.
    kvp : float or None
        Peak tube voltage (kV).
    exposure_uas : float or None
        Tube current-time product (µAs).
    exposure_time_ms : float or None
        Exposure duration (ms).
    tube_current_ma : float or None
        Tube current (mA).
    dose : EventDose or None
        DAP, entrance dose and distances of the exposure (:mod:`panelgate.gateway.dicom.dose`).
    """

    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    kvp: float | None = None
    exposure_uas: float | None = None
    exposure_time_ms: float | None = None
    tube_current_ma: float | None = None
    dose: EventDose | None = None

    @classmethod
    def from_event(
        cls, event: IrradiationEvent, sop_class_uid: str = DX_FOR_PRESENTATION
    ) -> PerformedImage:
        """Return the image of an irradiation event of the exposure log, with its dose."""
        return cls(
            sop_class_uid=sop_class_uid,
            sop_instance_uid=event.sop_instance_uid,
            series_instance_uid=event.series_instance_uid,
            kvp=event.kvp,
            exposure_uas=event.exposure_mas * 1000.0,
            exposure_time_ms=event.exposure_time_ms,
            tube_current_ma=event.tube_current_ma,
            dose=event.dose,
        )


def mpps_in_progress(
    destination: Destination,
    study: StudyContext,
    *,
    station_ae: str,
    uid_root: str,
    audit: AuditTrail | None = None,
    uid: str = "",
) -> str:
    """N-CREATE a Performed Procedure Step ``IN PROGRESS`` (PS3.4 F.7.2.1); return its UID.

    A Duplicate SOP Instance reply (0x0111) counts as done: the step exists, which is what
    a retried N-CREATE whose first reply was lost finds.

    ``uid`` is the step's SOP Instance UID when the modality chose it already (the
    station does, at the step's first exposure, so the dose SR can reference it);
    otherwise one is made under ``uid_root``.

    Raises
    ------
    DeliveryError
        No association, or the SCP refused the step.
    """
    uid = uid or generate_uid(prefix=uid_root)
    now = dt.datetime.now()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    sched = Dataset()
    sched.StudyInstanceUID = study.study_instance_uid or ""
    sched.ReferencedStudySequence = []
    sched.AccessionNumber = study.accession_number
    sched.RequestedProcedureID = study.requested_procedure_id
    sched.RequestedProcedureDescription = study.requested_procedure_description
    sched.ScheduledProcedureStepID = study.scheduled_procedure_step_id
    sched.ScheduledProcedureStepDescription = study.scheduled_procedure_step_description
    sched.ScheduledProtocolCodeSequence = []
    ds.ScheduledStepAttributesSequence = [sched]
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = study.patient_birth_date
    ds.PatientSex = study.patient_sex
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = uid.rsplit(".", 1)[-1][-16:]
    ds.PerformedStationAETitle = station_ae
    ds.PerformedStationName = ""
    ds.PerformedLocation = ""
    ds.PerformedProcedureStepStartDate = now.strftime("%Y%m%d")
    ds.PerformedProcedureStepStartTime = now.strftime("%H%M%S")
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = study.scheduled_procedure_step_description
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = []
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = study.modality or "DX"
    ds.StudyID = study.study_id
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    _request(destination, "N-CREATE", ds, uid, audit)
    return uid


def mpps_finish(
    destination: Destination,
    mpps_uid: str,
    images: Sequence[PerformedImage],
    *,
    discontinued: bool = False,
    audit: AuditTrail | None = None,
    rejected: Collection[str] = (),
) -> None:
    """N-SET the step ``COMPLETED`` or ``DISCONTINUED`` with its images and dose (PS3.4 F.7.2.2).

    Every image's exposure is in the Radiation Dose module; the images whose SOP Instance
    UID is in ``rejected`` (kept local, never stored) are left out of the Performed Series
    Sequence's references: they irradiated the patient, but no archive will hold them.

    Raises
    ------
    DeliveryError
        No association, or the SCP refused the update.
    """
    now = dt.datetime.now()
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "DISCONTINUED" if discontinued else "COMPLETED"
    ds.PerformedProcedureStepEndDate = now.strftime("%Y%m%d")
    ds.PerformedProcedureStepEndTime = now.strftime("%H%M%S")
    series: dict[str, list[PerformedImage]] = {}
    for image in images:
        if image.sop_instance_uid not in rejected:
            series.setdefault(image.series_instance_uid, []).append(image)
    items = []
    for series_uid, members in series.items():
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.PerformingPhysicianName = ""
        item.OperatorsName = ""
        item.ProtocolName = "panelgate"
        item.SeriesDescription = ""
        item.RetrieveAETitle = ""
        refs = []
        for image in members:
            ref = Dataset()
            ref.ReferencedSOPClassUID = image.sop_class_uid
            ref.ReferencedSOPInstanceUID = image.sop_instance_uid
            refs.append(ref)
        item.ReferencedImageSequence = refs
        item.ReferencedNonImageCompositeSOPInstanceSequence = []
        items.append(item)
    ds.PerformedSeriesSequence = items
    _radiation_dose(ds, images)
    _request(destination, "N-SET", ds, mpps_uid, audit)


def _radiation_dose(ds: Dataset, images: Sequence[PerformedImage]) -> None:
    """Fill the Radiation Dose module of the step (PS3.3 C.4.16, Table C.4-16).

    One Exposure Dose Sequence item per exposure (kVp, tube current in µA, exposure time
    in ms), and for the step: the number of exposures, no fluoroscopy, the total DAP
    (Image and Fluoroscopy Area Dose Product, dGy·cm²) and entrance dose (mGy), and the
    distances when every exposure shares them.
    """
    doses = []
    for image in images:
        dose = Dataset()
        if image.kvp is not None:
            dose.KVP = f"{image.kvp:.1f}"
        if image.tube_current_ma is not None:
            dose.XRayTubeCurrentInuA = f"{image.tube_current_ma * 1000.0:.0f}"
        if image.exposure_time_ms is not None:
            dose.ExposureTime = str(round(image.exposure_time_ms))
        doses.append(dose)
    ds.ExposureDoseSequence = doses
    ds.TotalNumberOfExposures = len(images)
    ds.TotalTimeOfFluoroscopy = 0
    known = [image.dose for image in images if image.dose is not None]
    if not known:
        return
    ds.ImageAndFluoroscopyAreaDoseProduct = f"{sum(d.dap_dgycm2 for d in known):.6g}"
    ds.EntranceDoseInmGy = f"{sum(d.entrance_dose_mgy for d in known):.6g}"
    if len({d.sid_mm for d in known}) == 1:
        ds.DistanceSourceToDetector = f"{known[0].sid_mm:.6g}"
    if len({d.source_to_patient_mm for d in known}) == 1:
        ds.DistanceSourceToEntrance = f"{known[0].source_to_patient_mm:.6g}"
    sources = {d.dap_source for d in known}
    how = "measured by the generator" if sources == {"generator"} else "computed (tube output)"
    missing = len(images) - len(known)
    ds.CommentsOnRadiationDose = f"DAP {how}" + (
        f"; {missing} exposure(s) without a dose" if missing else ""
    )


def _request(
    destination: Destination, kind: str, ds: Dataset, uid: str, audit: AuditTrail | None
) -> None:
    assoc = open_association(destination, [build_context(ModalityPerformedProcedureStep)])
    try:
        if kind == "N-CREATE":
            status, _reply = assoc.send_n_create(ds, ModalityPerformedProcedureStep, uid)
        else:
            status, _reply = assoc.send_n_set(ds, ModalityPerformedProcedureStep, uid)
    finally:
        if assoc.is_established:
            assoc.release()
    outcome = classify(status)
    if kind == "N-CREATE" and status is not None and status.get("Status") == _DUPLICATE:
        outcome = Outcome.WARNING  # created already: a retry whose first reply was lost
    (audit or AuditTrail(None)).record(
        "procedure-step",
        outcome=SUCCESS if outcome in (Outcome.SUCCESS, Outcome.WARNING) else SERIOUS_FAILURE,
        local_ae=destination.calling_ae,
        remote_ae=destination.called_ae,
        remote_host=destination.host,
        detail=f"{kind} {ds.PerformedProcedureStepStatus}",
        mpps_uid=uid,
    )
    if outcome not in (Outcome.SUCCESS, Outcome.WARNING):
        raise DeliveryError(
            f"MPPS {kind} to {destination} failed: {describe(status)}",
            retryable=outcome is Outcome.RETRY,
        )
    _log.info("MPPS %s %s: %s", kind, uid, describe(status))

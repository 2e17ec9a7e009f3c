"""Modality Worklist C-FIND SCU (PS3.4 K.6.1): scheduled steps as typed :class:`StudyContext`.

The query asks for the steps of one scheduled station AE, modality and date (each may be
left open) and for every attribute the image header needs (PS3.17 Annex J). Each match
becomes a :class:`~panelgate.gateway.dicom.context.StudyContext`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]

from panelgate.gateway.dicom.context import ProtocolCode, StudyContext
from panelgate.gateway.errors import DeliveryError

from .association import open_association
from .audit import SERIOUS_FAILURE, SUCCESS, AuditTrail
from .destination import Destination
from .status import Outcome, classify, describe

__all__ = ["WorklistQuery", "query_worklist", "worklist_identifier"]

_log = logging.getLogger(__name__)

_PENDING = (0xFF00, 0xFF01)


@dataclass(frozen=True)
class WorklistQuery:
    """Matching keys of a worklist query; an empty value matches anything.

    Parameters
    ----------
    station_ae : str
        Scheduled Station AE Title (0040,0001), usually our own AE title.
    modality : str
        Modality (0008,0060) of the scheduled step.
    date : str
        Scheduled Procedure Step Start Date (0040,0002): ``YYYYMMDD`` or a range
        ``YYYYMMDD-YYYYMMDD`` (PS3.4 C.2.2.2.5).
    """

    station_ae: str = ""
    modality: str = "DX"
    date: str = ""

    @classmethod
    def today(cls, station_ae: str, modality: str = "DX") -> WorklistQuery:
        """Query the steps of a station and modality scheduled for today."""
        return cls(station_ae, modality, dt.date.today().strftime("%Y%m%d"))


def worklist_identifier(query: WorklistQuery) -> Dataset:
    """Build the C-FIND identifier: matching keys set, return keys empty (PS3.4 K.6.1.2)."""
    ds = Dataset()
    for keyword in (
        "AccessionNumber",
        "ReferringPhysicianName",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "RequestedProcedureID",
        "RequestedProcedureDescription",
        "AdmittingDiagnosesDescription",  # Visit Admission, and Patient Medical:
        "PatientWeight",  # what the dose SR carries for IHE REM (PS3.3 C.7.2.2)
        "PatientSize",
    ):
        setattr(ds, keyword, "")
    ds.AdmittingDiagnosesCodeSequence = []
    ds.RequestedProcedureCodeSequence = []
    ds.SpecificCharacterSet = "ISO_IR 192"
    sps = Dataset()
    sps.Modality = query.modality
    sps.ScheduledStationAETitle = query.station_ae
    sps.ScheduledProcedureStepStartDate = query.date
    sps.ScheduledProcedureStepStartTime = ""
    sps.ScheduledProcedureStepID = ""
    sps.ScheduledProcedureStepDescription = ""
    sps.ScheduledProtocolCodeSequence = []
    ds.ScheduledProcedureStepSequence = [sps]
    return ds


def query_worklist(
    destination: Destination, query: WorklistQuery, audit: AuditTrail | None = None
) -> list[StudyContext]:
    """Ask a worklist SCP for the scheduled steps matching ``query``.

    Returns
    -------
    list of StudyContext
        One per matching scheduled procedure step, in the order the SCP sent them.

    Raises
    ------
    DeliveryError
        No association, or the SCP ended the query with a failure or no status.
    """
    assoc = open_association(destination, [build_context(ModalityWorklistInformationFind)])
    items: list[StudyContext] = []
    final: Any = None
    try:
        for status, identifier in assoc.send_c_find(
            worklist_identifier(query), ModalityWorklistInformationFind
        ):
            if status is not None and "Status" in status and status.Status in _PENDING:
                if identifier is not None:
                    items.extend(_contexts(identifier))
                continue
            final = status
    finally:
        if assoc.is_established:
            assoc.release()
    outcome = classify(final)
    audit = audit or AuditTrail(None)
    audit.record(
        "worklist-query",
        outcome=SUCCESS if outcome is Outcome.SUCCESS else SERIOUS_FAILURE,
        local_ae=destination.calling_ae,
        remote_ae=destination.called_ae,
        remote_host=destination.host,
        matches=len(items),
        modality=query.modality,
        station_ae=query.station_ae,
        date=query.date,
    )
    if outcome is not Outcome.SUCCESS:
        raise DeliveryError(
            f"worklist query to {destination} failed: {describe(final)}",
            retryable=outcome is Outcome.RETRY,
        )
    _log.info("worklist %s: %d scheduled steps", destination, len(items))
    return items


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value)


def _codes(ds: Dataset, keyword: str) -> tuple[ProtocolCode, ...]:
    return tuple(
        ProtocolCode(
            _text(c, "CodeValue"), _text(c, "CodingSchemeDesignator"), _text(c, "CodeMeaning")
        )
        for c in ds.get(keyword) or []
    )


def _positive(ds: Dataset, keyword: str) -> float | None:
    """Return a DS value when it is a positive finite number; None when empty or unusable."""
    try:
        value = float(ds.get(keyword) or "nan")
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _contexts(identifier: Dataset) -> list[StudyContext]:
    steps = identifier.get("ScheduledProcedureStepSequence") or [Dataset()]
    out = []
    for sps in steps:
        codes = _codes(sps, "ScheduledProtocolCodeSequence")
        description = _text(identifier, "RequestedProcedureDescription")
        out.append(
            StudyContext(
                patient_name=_text(identifier, "PatientName"),
                patient_id=_text(identifier, "PatientID"),
                patient_birth_date=_text(identifier, "PatientBirthDate"),
                patient_sex=_text(identifier, "PatientSex"),
                accession_number=_text(identifier, "AccessionNumber"),
                study_instance_uid=_text(identifier, "StudyInstanceUID") or None,
                study_description=description,
                referring_physician_name=_text(identifier, "ReferringPhysicianName"),
                requested_procedure_id=_text(identifier, "RequestedProcedureID"),
                requested_procedure_description=description,
                requested_procedure_codes=_codes(identifier, "RequestedProcedureCodeSequence"),
                scheduled_procedure_step_id=_text(sps, "ScheduledProcedureStepID"),
                scheduled_procedure_step_description=_text(
                    sps, "ScheduledProcedureStepDescription"
                ),
                scheduled_protocol_codes=codes,
                scheduled_station_ae=_text(sps, "ScheduledStationAETitle"),
                scheduled_start=_text(sps, "ScheduledProcedureStepStartDate")
                + _text(sps, "ScheduledProcedureStepStartTime").split(".")[0],
                modality=_text(sps, "Modality"),
                admitting_diagnoses_description=_text(identifier, "AdmittingDiagnosesDescription"),
                admitting_diagnoses_codes=_codes(identifier, "AdmittingDiagnosesCodeSequence"),
                patient_weight_kg=_positive(identifier, "PatientWeight"),
                patient_size_m=_positive(identifier, "PatientSize"),
            )
        )
    return out

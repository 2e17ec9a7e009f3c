"""The dose of each exposure the workflow makes: computed, put in the image, logged.

:func:`exposure_dose` takes the DAP from the generator when it measures one (the
:class:`~panelgate.drivers.generator.ReportsDoseAreaProduct` capability), else computes it
from the delivered technique with the room's ``[dose]`` model
(:mod:`panelgate.gateway.dicom.dose`). :func:`irradiation_event` turns an exposure and
the image built for it into the event the dose SR reports, and :func:`device_observer`
names the device that irradiated (the same identity as the image's General Equipment).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from panelgate.drivers import DetectorInfo
from panelgate.drivers.generator import Delivered, Generator, ReportsDoseAreaProduct
from panelgate.gateway.dicom import StudyContext, Technique
from panelgate.gateway.dicom.dose import DoseGeometry, EventDose, TubeOutput, event_dose
from panelgate.gateway.dicom.dose_event import DeviceObserver, IrradiationEvent

from .config import Config

__all__ = [
    "device_observer",
    "exposure_dose",
    "exposure_dose_of_model",
    "irradiation_event",
    "study_of",
]

_log = logging.getLogger(__name__)


def exposure_dose(generator: Generator, delivered: Delivered, config: Config) -> EventDose | None:
    """Return the dose of the exposure just delivered (measured DAP when the generator has one).

    Called after the beam, so it never raises for a value it cannot use: a measured DAP
    that is not a dose (negative, not finite) is replaced by the model's, with a warning;
    a delivered technique the model cannot take (0 kV) gives None, with an error logged
    (the image is then made without dose attributes, and the exposure is not logged).
    """
    measured = None
    if isinstance(generator, ReportsDoseAreaProduct):
        measured = generator.delivered_dap_dgycm2()
    geometry, output = config.dose.geometry(), config.dose.tube_output()
    try:
        return event_dose(
            delivered.kv, delivered.mas, geometry, output, measured_dap_dgycm2=measured
        )
    except ValueError as exc:
        if measured is not None:
            _log.warning("the generator's DAP is not usable (%s): computed from the technique", exc)
            return exposure_dose_of_model(delivered, geometry, output)
        _log.error("no dose for the delivered technique: %s", exc)
        return None


def exposure_dose_of_model(
    delivered: Delivered, geometry: DoseGeometry, output: TubeOutput
) -> EventDose | None:
    """Return the model's dose of a delivered technique, None (logged) when it has none."""
    try:
        return event_dose(delivered.kv, delivered.mas, geometry, output)
    except ValueError as exc:
        _log.error("no dose for the delivered technique: %s", exc)
        return None


def device_observer(config: Config, detector: DetectorInfo) -> DeviceObserver:
    """Return the device that irradiates, as the dose SR names it (PS3.16 TID 1004).

    Its UID is derived from the organisation root, the station name and the detector's
    serial number, so that it stays the same across restarts and reports.
    """
    dicom = config.dicom
    uid = generate_uid(
        prefix=dicom.uid_root, entropy_srcs=["panelgate", dicom.station_name, detector.serial]
    )
    return DeviceObserver(
        uid=uid,
        name=dicom.station_name or "panelgate",
        manufacturer="panelgate",
        model="panelgate",
        serial=detector.serial,
    )


def irradiation_event(
    ds: Dataset, technique: Technique, delivered: Delivered, *, started: dt.datetime, protocol: str
) -> IrradiationEvent:
    """Return the irradiation event of an exposure from its image and technique.

    ``ds`` is the DX instance built with ``technique`` (which carries the Irradiation
    Event UID and the dose); the Exposure Index and the image's identity are read from it.

    Raises
    ------
    ValueError
        The technique carries no dose or no Irradiation Event UID.
    """
    if technique.dose is None or not technique.irradiation_event_uid:
        raise ValueError("the technique carries no dose or no Irradiation Event UID")
    ei = ds.get("ExposureIndex")
    target = ds.get("TargetExposureIndex")
    return IrradiationEvent(
        irradiation_event_uid=technique.irradiation_event_uid,
        started=started,
        kvp=delivered.kv,
        tube_current_ma=delivered.ma,
        exposure_time_ms=delivered.ms,
        exposure_mas=delivered.mas,
        dose=technique.dose,
        body_part=technique.body_part,
        view_position=technique.view_position,
        image_laterality=technique.image_laterality,
        acquisition_protocol=protocol,
        exposure_index=None if ei is None else float(ei),
        target_exposure_index=None if target is None else float(target),
        sop_instance_uid=str(ds.SOPInstanceUID),
        series_instance_uid=str(ds.SeriesInstanceUID),
    )


def study_of(ds: Dataset, study: StudyContext) -> StudyContext:
    """Return the study as the image has it (its Study Instance UID may be generated)."""
    return dataclasses.replace(study, study_instance_uid=str(ds.StudyInstanceUID))

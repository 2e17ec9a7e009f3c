"""The dose SR of a study, rebuilt from the exposure log and queued with the images.

:func:`build_study_report` reads every event of a study from the
:class:`~.exposure_log.ExposureLog` and builds its X-Ray Radiation Dose SR
(:func:`panelgate.gateway.dicom.rdsr.build_dose_report`); :func:`queue_study_report`
puts it in the outbox, where it gets the images' durability, delivery and storage
commitment. The station queues it when an exam is completed; ``panelgate dose --study
UID --queue`` does it by hand.
"""

from __future__ import annotations

from importlib import metadata

from pydicom.dataset import Dataset

from panelgate.gateway.dicom.rdsr import build_dose_report
from panelgate.gateway.outbox import Outbox

from .config import Config
from .exposure_log import ExposureLog

__all__ = ["build_study_report", "queue_study_report"]


def _software_version() -> str:
    try:
        return metadata.version("panelgate")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def build_study_report(
    log: ExposureLog, study_uid: str, config: Config, *, mpps_uid: str = ""
) -> Dataset:
    """Build the dose SR of one study from every event the log has of it.

    Raises
    ------
    UsageError
        The log has no event of that study.
    DicomBuildError
        A logged value does not fit the SR.
    """
    logged = log.read_study(study_uid)
    dicom = config.dicom
    return build_dose_report(
        logged.events,
        study=logged.study,
        device=logged.device,
        uid_root=dicom.uid_root,
        software_version=_software_version(),
        performed_procedure_step_uid=mpps_uid,
        institution_name=dicom.institution_name,
        station_name=dicom.station_name,
    )


def queue_study_report(
    outbox: Outbox, log: ExposureLog, study_uid: str, config: Config, *, mpps_uid: str = ""
) -> str:
    """Build the study's dose SR and queue it for every destination; return its SOP UID.

    Raises
    ------
    UsageError
        The log has no event of that study.
    OutboxError
        The SR could not be queued (see :meth:`Outbox.enqueue_dataset`).
    """
    ds = build_study_report(log, study_uid, config, mpps_uid=mpps_uid)
    outbox.enqueue_dataset(ds)
    return str(ds.SOPInstanceUID)

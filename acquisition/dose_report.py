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
from .errors import UsageError
from .exposure_log import ExposureLog

__all__ = ["DoseReports", "build_study_report", "queue_study_report"]


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


class DoseReports:
    """Queues the dose SR of a study when its step completes, once per set of events.

    A study completed again without a new exposure queues nothing; with new exposures a
    new SR (a new SOP Instance) reports every event of the study, the earlier ones too.

    Parameters
    ----------
    outbox : Outbox
        Where the SR is queued, for every destination, beside the images.
    log : ExposureLog
        The exposure log the workflow writes.
    config : Config
        The UID root, institution and station names.
    """

    def __init__(self, outbox: Outbox, log: ExposureLog, config: Config) -> None:
        self.outbox = outbox
        self.log = log
        self.config = config

    def complete(self, study_uid: str, *, mpps_uid: str = "") -> str | None:
        """Queue the study's dose SR if it has events not reported yet; return its SOP UID.

        Returns None when the study has no exposure, or none since its last SR.

        Raises
        ------
        OutboxError, DicomBuildError, StorageError
            The SR could not be built or queued (nothing is marked as reported then).
        """
        try:
            logged = self.log.read_study(study_uid)
        except UsageError:  # no exposure of this study
            return None
        events = frozenset(e.irradiation_event_uid for e in logged.events)
        if events <= self.log.reported(study_uid):
            return None
        uid = queue_study_report(self.outbox, self.log, study_uid, self.config, mpps_uid=mpps_uid)
        self.log.mark_reported(study_uid, events)
        return uid

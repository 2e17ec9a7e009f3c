"""The exposure log: one small JSON file per irradiation event, kept per study.

Layout (folders 0700, files 0600: they hold patient data)::

    <root>/<StudyInstanceUID>/<IrradiationEventUID>.json
    <root>/<StudyInstanceUID>/reported.txt      the events of the last dose SR queued

Each file is written atomically when the exposure's image exists (before the technician
accepts or rejects it: a rejected exposure irradiated the patient too) and holds the
study (patient and study attributes, as the image has them), the device that irradiated
and the event (:class:`~panelgate.gateway.dicom.dose_event.IrradiationEvent`). The dose SR
of a study is rebuilt from these files at any time (:func:`read_study`), and
``panelgate dose --study UID`` prints them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from panelgate.drivers.fsio import private_dir, write_bytes_atomic
from panelgate.gateway.dicom import ProtocolCode, StudyContext
from panelgate.gateway.dicom.dose_event import DeviceObserver, IrradiationEvent
from panelgate.gateway.dicom.vr import vr_problem

from .errors import UsageError

__all__ = ["ExposureLog", "StudyDose"]

_FORMAT = 1


@dataclass(frozen=True)
class StudyDose:
    """What the log holds of one study: who, the device, and every event by start time."""

    study: StudyContext
    device: DeviceObserver
    events: tuple[IrradiationEvent, ...]

    @property
    def total_dap_dgycm2(self) -> float:
        """Accumulated dose-area product of the study, dGy·cm²."""
        return sum(e.dose.dap_dgycm2 for e in self.events)

    @property
    def total_entrance_dose_mgy(self) -> float:
        """Accumulated entrance dose (incident air kerma at the reference point), mGy."""
        return sum(e.dose.entrance_dose_mgy for e in self.events)


class ExposureLog:
    """The exposure log under ``root`` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def record(self, study: StudyContext, device: DeviceObserver, event: IrradiationEvent) -> Path:
        """Write one event's file (atomic, 0600); return its path.

        Raises
        ------
        ValueError
            The study has no Study Instance UID, or a UID is malformed (it names a file).
        StorageError
            The file cannot be written.
        """
        study_uid = _checked_uid(study.study_instance_uid or "")
        event_uid = _checked_uid(event.irradiation_event_uid)
        folder = private_dir(self.root / study_uid)
        data = {
            "format": _FORMAT,
            "study": asdict(study),
            "device": asdict(device),
            "event": event.to_dict(),
        }
        payload = json.dumps(data, sort_keys=True, indent=1).encode()
        return write_bytes_atomic(folder / f"{event_uid}.json", payload)

    def studies(self) -> list[str]:
        """Return the Study Instance UIDs the log has events of."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and any(p.glob("*.json")))

    def read_study(self, study_uid: str) -> StudyDose:
        """Read every event of a study, oldest first.

        Raises
        ------
        UsageError
            No event of that study in the log, or a malformed UID.
        ValueError
            A file of the study is not an exposure log record (named in the message).
        """
        try:
            folder = self.root / _checked_uid(study_uid)
        except ValueError as exc:
            raise UsageError(f"--study: {exc}") from None
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if not files:
            raise UsageError(f"no exposure of study {study_uid} in the exposure log {self.root}")
        records = [_read(path) for path in files]
        events = tuple(sorted((event for _, _, event in records), key=lambda e: e.started))
        study, device, _ = records[0]
        return StudyDose(study, device, events)

    def reported(self, study_uid: str) -> frozenset[str]:
        """Return the Irradiation Event UIDs of the study's last dose SR queued (none: empty)."""
        path = self.root / _checked_uid(study_uid) / _REPORTED
        try:
            return frozenset(path.read_text().split())
        except FileNotFoundError:
            return frozenset()

    def mark_reported(self, study_uid: str, event_uids: frozenset[str]) -> None:
        """Remember which events the study's dose SR just queued reports (atomic, 0600)."""
        folder = private_dir(self.root / _checked_uid(study_uid))
        write_bytes_atomic(
            folder / _REPORTED, "".join(f"{u}\n" for u in sorted(event_uids)).encode()
        )


_REPORTED = "reported.txt"


def _checked_uid(uid: str) -> str:
    problem = "is empty" if not uid else vr_problem("UI", uid)  # also: no '/', no '..'
    if problem is not None:
        raise ValueError(f"UID {uid!r} {problem}")
    return uid


def _read(path: Path) -> tuple[StudyContext, DeviceObserver, IrradiationEvent]:
    try:
        data: dict[str, Any] = json.loads(path.read_bytes())
        study = dict(data["study"])
        for key in ("scheduled_protocol_codes", "requested_procedure_codes",
                    "admitting_diagnoses_codes"):  # fmt: skip
            study[key] = tuple(ProtocolCode(**code) for code in study.get(key, ()))
        return (
            StudyContext(**study),
            DeviceObserver(**data["device"]),
            IrradiationEvent.from_dict(data["event"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not an exposure log record ({exc})") from None

"""After the beam, nothing is lost: what an exposure produced is kept when it cannot finish.

When anything fails once the generator has fired (the detector, the disk, a bug, Ctrl-C),
:func:`keep_exposure` keeps the most finished form of the image that exists, with the
record of the exposure, and returns a :class:`~panelgate.drivers.PatientExposed` whose
message starts by saying that the patient WAS exposed and where the data is:

=======================  ==============================================================
what exists              what is kept (folder ``<kept>/<UTC time>-<frame>/``, mode 0700)
=======================  ==============================================================
queued in the outbox     nothing more: the message names the queued file
DX instance built        ``image.dcm`` (queue it with ``panelgate send``)
corrected image          ``corrected.npy`` and ``raw.npy``
raw frame only           ``raw.npy``
no frame                 only the record
=======================  ==============================================================

When nobody confirmed the exposure (the generator did not answer EXP, or a room without a
generator link, :attr:`~panelgate.drivers.generator.Generator.confirms_exposure` False,
where the technician fires at the console) and no frame came, the message says the
patient MAY HAVE BEEN exposed; a readout that timed out is then reported as "no beam was
detected within N s".

``exposure.json`` always holds the record: the request (patient and study, so the file is
the agent user's only, 0600), the technique delivered, the frame's metadata, the
calibration set and what failed. The first folder that can be written is used; when none
can, the message says so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import Dataset

from panelgate.drivers import EXIT_INTERRUPTED, DetectorTimeout, Frame, PatientExposed
from panelgate.drivers.fsio import private_dir, write_bytes_atomic
from panelgate.drivers.generator import Delivered
from panelgate.gateway.dicom import write_atomic

from .exposure import ExposureRequest

__all__ = ["ExposureInterrupted", "ExposureRecord", "keep_exposure"]


class ExposureInterrupted(PatientExposed):
    """Interrupted (SIGINT) after the beam: the patient WAS exposed; the image is kept."""

    exit_status = EXIT_INTERRUPTED


@dataclass
class ExposureRecord:
    """What is known of an exposure once the generator has fired; filled as it goes."""

    request: ExposureRequest
    fired_utc: dt.datetime
    calibration_set_id: str
    delivered: Delivered | None = None
    frame: Frame | None = None
    corrected: np.ndarray[Any, Any] | None = None
    dataset: Dataset | None = None
    queued_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    def technique(self) -> str:
        """Describe the technique delivered, else the one set (the message's first words)."""
        if self.delivered is not None:
            d = self.delivered
            return f"{d.kv:g} kV, {d.mas:g} mAs"
        return f"{self.request.kv:g} kV, {self.request.mas:g} mAs set"

    def as_json(self, failure: str, *, confirmed: bool = True) -> dict[str, Any]:
        """Return the record as a JSON-able dict (it holds patient data: keep it private).

        ``patient_exposed`` is always true (treat the patient as exposed);
        ``exposure_confirmed`` says whether anything confirmed it.
        """
        meta = self.frame.meta if self.frame is not None else None
        return {
            "patient_exposed": True,
            "exposure_confirmed": confirmed,
            "fired_utc": self.fired_utc.isoformat(),
            "failure": failure,
            "request": {
                "kv": self.request.kv,
                "mas": self.request.mas,
                "ma": self.request.ma,
                "protocol": self.request.protocol,
                "study": dataclasses.asdict(self.request.study),
            },
            "delivered": dataclasses.asdict(self.delivered) if self.delivered else None,
            "calibration_set_id": self.calibration_set_id,
            "frame": None
            if meta is None
            else {
                "frame_id": meta.frame_id,
                "t_utc": meta.t_utc.isoformat(),
                "serial": meta.serial,
                "temp_c": meta.temp_c,
                "mode_key": meta.mode.key,
                "shape": list(self.frame.pixels.shape) if self.frame is not None else None,
            },
            "sop_instance_uid": str(self.dataset.SOPInstanceUID) if self.dataset else None,
            "queued_path": str(self.queued_path) if self.queued_path else None,
            "notes": self.notes,
        }


def keep_exposure(
    record: ExposureRecord,
    failure: BaseException,
    folders: Sequence[Path],
    *,
    certain: bool = True,
    beam_wait_s: float | None = None,
) -> PatientExposed:
    """Keep what the exposure produced and describe it; see the module docstring.

    Parameters
    ----------
    record : ExposureRecord
        What is known so far.
    failure : BaseException
        What stopped the exposure (KeyboardInterrupt for Ctrl-C).
    folders : sequence of pathlib.Path
        Where to keep the data, tried in order.
    certain : bool
        False when nothing confirmed the exposure (no answer to the exposure command, or
        a generator that cannot confirm one, and no frame): the patient MAY have been
        exposed, and the message says that.
    beam_wait_s : float, optional
        How long the panel waited for the beam: with ``certain`` False, a detector
        timeout is reported as "no beam was detected within N s".

    Returns
    -------
    PatientExposed
        To be raised ``from failure``; :class:`ExposureInterrupted` for an interrupt.
    """
    interrupted = isinstance(failure, KeyboardInterrupt)
    what = "interrupted" if interrupted else _reason(failure)
    if not certain and beam_wait_s is not None and isinstance(failure, DetectorTimeout):
        what = f"no beam was detected within {beam_wait_s:g} s"
    head = (
        f"the patient {'WAS' if certain else 'MAY HAVE BEEN'} exposed ({record.technique()} at "
        f"{record.fired_utc.astimezone():%H:%M:%S}) — do not repeat the exposure without "
        f"checking: {what}"
    )
    cls = ExposureInterrupted if interrupted else PatientExposed
    if record.queued_path is not None:
        return cls(
            f"{head}; the image is queued in the outbox ({record.queued_path}) "
            "and will be delivered by 'panelgate agent'",
            record.queued_path,
        )
    problems = []
    for folder in folders:
        try:
            kept, form = _write(record, what, folder, confirmed=certain)
        except OSError as exc:
            problems.append(f"{folder}: {exc.strerror or exc}")
            continue
        return cls(f"{head}; {form} kept in {kept}", kept)
    return cls(f"{head}; nothing could be kept ({'; '.join(problems)})")


def _reason(failure: BaseException) -> str:
    text = " ".join(str(failure).split()) or type(failure).__name__
    return text.removeprefix("panelgate: ")


def _write(
    record: ExposureRecord, failure: str, folder: Path, *, confirmed: bool
) -> tuple[Path, str]:
    frame_id = record.frame.meta.frame_id if record.frame is not None else "noframe"
    name = f"{record.fired_utc:%Y%m%dT%H%M%S.%fZ}-{frame_id}"
    private_dir(folder)
    kept = private_dir(folder / name)
    if record.dataset is not None:
        write_atomic(record.dataset, kept / "image.dcm")
        form = "the image (image.dcm; queue it with 'panelgate send') and the exposure record are"
    elif record.frame is not None:
        _save_array(kept / "raw.npy", record.frame.pixels)
        form = "the raw frame (raw.npy) and the exposure record are"
        if record.corrected is not None:
            _save_array(kept / "corrected.npy", record.corrected)
            form = "the corrected image (corrected.npy), the raw frame and the exposure record are"
    else:
        form = "no image was read out; the exposure record is"
    text = json.dumps(record.as_json(failure, confirmed=confirmed), indent=2, default=str)
    write_bytes_atomic(kept / "exposure.json", text.encode())
    return kept, form


def _save_array(path: Path, array: np.ndarray[Any, Any]) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())

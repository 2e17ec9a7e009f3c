"""The station: one radiography room's exposures, images and deliveries in one process.

:class:`Station` joins the parts the HTTP API drives:

- the :class:`~panelgate.acquisition.agent.Agent` (outbox workers per destination, the
  Storage Commitment listener, retention), exactly as ``panelgate agent`` runs it;
- the :class:`~.exposures.Room` (detector, generator, calibration, exposure workflow);
- the :class:`~.images.ImageIndex` (images awaiting review, accepted, rejected);
- the worklist client (C-FIND as the station's AE, IHE RAD-5);
- the :class:`~.events.EventBus` fed by the workflow's state changes and by
  :class:`~.outbox_watch.OutboxWatch`.

One exposure at a time. An image is written to the review folder; accepting it queues
it in the outbox (fsynced, idempotent by SOP Instance UID), rejecting it keeps it local.
With ``auto_accept`` the workflow queues it in the outbox itself (one write, no review
copy), as ``panelgate expose`` does.
:meth:`drain` refuses new exposures and waits for the one in progress, which is how a
SIGTERM ends the service without losing an image.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from importlib import metadata
from typing import Any

import pydicom
from pydicom.uid import generate_uid

from panelgate.acquisition.agent import Agent
from panelgate.acquisition.calibration_lifecycle import Clock, utc_now
from panelgate.acquisition.config import WorklistConfig
from panelgate.acquisition.dose_report import DoseReports
from panelgate.acquisition.exposure_log import ExposureLog
from panelgate.acquisition.workflow import (
    ExposureRequest,
    ExposureResult,
    StateChange,
    parse_protocol,
)
from panelgate.drivers import IncompatibleState, PanelgateError, UsageError
from panelgate.drivers.generator import TechniqueOutOfRange
from panelgate.gateway import DicomBuildError
from panelgate.gateway.dicom import StudyContext
from panelgate.gateway.outbox import Record, State
from panelgate.gateway.pacs import Destination, WorklistQuery, query_worklist
from panelgate.simulators.dose import protocol_phantom

from .config import StationSetup
from .events import EventBus
from .exam import FIELD_OF_KEYWORD, Exam, ExamForm, InvalidField, TechniqueForm
from .exposure_job import ExposureJob
from .exposures import Room
from .images import ImageIndex, Review
from .outbox_watch import OutboxWatch
from .procedure_step import ProcedureSteps
from .protocols import ExamProtocol
from .recalibrations import GuidedRecalibrations
from .rejects import reject_counts, rejects_csv
from .startup import StartupPhases

__all__ = ["DELIVERY_STATE", "GENERATOR_STATE", "Station", "UnknownImage"]

_log = logging.getLogger(__name__)

DELIVERY_STATE = {
    State.PENDING: "queued",
    State.INFLIGHT: "queued",
    State.SENT: "sent",
    State.COMMITTED: "committed",
    State.FAILED: "failed",
}
"""The API's delivery state of an outbox state (``outbox_state`` gives the exact one)."""

GENERATOR_STATE = {"preparing": "PREP", "ready": "READY", "exposing": "EXPOSING"}
"""The generator's state in each state of the exposure workflow (IDLE in the others)."""

_SETTLE_TIMEOUT_S = 600.0
"""Longest wait of ``POST /api/prepare`` for READY (a fresh dark may come first)."""


class UnknownImage(LookupError):
    """No image with that SOP Instance UID (HTTP 404)."""


def _version() -> str:
    try:
        return metadata.version("panelgate")
    except metadata.PackageNotFoundError:
        return "unknown"


def _study_public(study: StudyContext) -> dict[str, Any]:
    return {
        "accession": study.accession_number,
        "patient": {
            "id": study.patient_id,
            "name": study.patient_name,
            "birth_date": study.patient_birth_date,
            "sex": study.patient_sex,
        },
        "study_instance_uid": study.study_instance_uid,
        "requested_procedure_id": study.requested_procedure_id,
        "requested_procedure_description": study.requested_procedure_description,
        "scheduled_procedure_step_id": study.scheduled_procedure_step_id,
        "scheduled_procedure_step_description": study.scheduled_procedure_step_description,
        "scheduled_start": study.scheduled_start,
    }


class Station:
    """The long-running service of one room (see the module docstring).

    Parameters
    ----------
    setup : StationSetup
        The validated configuration.
    seed : int, optional
        Seed of the outbox's backoff jitter (tests).
    clock : Clock, optional
        The time calibration validity is judged at (tests; the wall clock by default).
    startup : StartupPhases, optional
        Where the phases of :meth:`start` are recorded (``panelgate station`` logs them).
    """

    def __init__(
        self,
        setup: StationSetup,
        seed: int | None = None,
        clock: Clock = utc_now,
        startup: StartupPhases | None = None,
    ) -> None:
        self.setup = setup
        self.config = setup.config
        self.startup = startup or StartupPhases()
        self.bus = EventBus()
        self.agent = Agent(self.config, seed=seed)
        self.images = ImageIndex(setup.station.state_path / "images")
        self.room = Room(
            self.config, setup.station, self.images.held_dir, self._on_state,
            clock=clock, on_event=self.bus.publish,
            outbox=self.agent.outbox if setup.station.auto_accept else None,
            startup=self.startup, on_stage=self.agent.metrics.stage_done,
        )  # fmt: skip
        self.watch = OutboxWatch(self.agent.outbox, self._on_delivery)
        self.dose_reports = DoseReports(  # the workflow's exposure log: spool_dir/../dose
            self.agent.outbox, ExposureLog(self.images.root / "dose"), self.config
        )
        self.steps = ProcedureSteps.from_config(  # MPPS ([mpps]) and the step's UID
            self.config, self.dose_reports.log, self.agent.audit
        )
        self.exam: Exam | None = None
        self.state = "idle"
        self.generator_state = "IDLE"
        self._job: ExposureJob[dict[str, Any]] | None = None
        self._exposing = threading.Lock()
        self._stopping = False
        self.recalibrations = GuidedRecalibrations(
            self.config, setup.station, self.room, self._exposing, self.images.held_dir,
            publish=self.bus.publish, on_change=self._on_state, stopping=lambda: self._stopping,
        )  # fmt: skip
        self._housekeeping_stop = threading.Event()
        self._housekeeping = threading.Thread(
            target=self.agent.serve, args=(self._housekeeping_stop,), name="agent", daemon=True
        )
        self._upkeep = threading.Thread(
            target=self.room.serve, args=(self._housekeeping_stop,), name="room", daemon=True
        )

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Recover images and outbox, start delivery, open the room (its failure is kept)."""
        with self.startup.phase("images recovered"):
            recovered = self.images.load()
        if recovered:
            _log.warning("%d image(s) made before a crash are pending review", len(recovered))
        with self.startup.phase("outbox and agent (workers, listener)"):
            self.agent.start()
            self._housekeeping.start()
            self.watch.start()
            self.steps.start()
        try:
            self.room.open()
        except PanelgateError as exc:
            _log.warning("the room is not ready: %s", exc)
        self._upkeep.start()  # reconnects, retries, fresh darks while idle

    def drain(self) -> None:
        """Refuse new exposures, release one held at READY, wait for the one in progress."""
        self._stopping = True
        if self.room.switch is not None:
            self.room.switch.release()  # a prepared exposure not yet fired: none fires
        with self._exposing:
            pass

    def close(self) -> None:
        """Stop delivery (in-flight sends finished), close the devices, end event streams."""
        self._complete_study(None)  # the exam's dose SR, queued before delivery stops
        self._finish_step(None)
        self.steps.close()
        self._housekeeping_stop.set()
        for thread in (self._housekeeping, self._upkeep):
            if thread.is_alive():
                thread.join(timeout=10)
        self.agent.stop()
        self.watch.stop()
        self.room.close()
        self.bus.close()

    def _complete_study(self, following: StudyContext | None) -> None:
        """Queue the dose SR of the exam's study when another study follows it, or none.

        The SR reports every exposure of the study, rejected ones too (IHE REM); nothing
        is queued when the study has no exposure since its last SR. A failure is logged:
        the images are not held back by it, and the next completion tries again.
        """
        exam = self.exam
        uid = exam.request.study.study_instance_uid if exam is not None else None
        if not uid or (following is not None and following.study_instance_uid == uid):
            return
        try:
            sr_uid = self.dose_reports.complete(uid, mpps_uid=self.steps.uid_of(uid))
        except PanelgateError as exc:
            _log.error("the dose SR of the finished study was not queued: %s", exc)
            return
        if sr_uid is not None:
            _log.info("dose SR %s of the finished study queued", sr_uid)
            self._wake_delivery()

    def _finish_step(self, following: StudyContext | None) -> None:
        """End the performed procedure step unless ``following`` is of it (MPPS N-SET)."""
        gone = {e.sop_instance_uid for e in self.images.entries() if e.review == Review.REJECTED}
        self.steps.finish(following, gone)

    # -- status -------------------------------------------------------------------------
    def not_ready(self) -> str:
        """Why an exposure cannot start now; empty when it can."""
        if self._stopping:
            return "the station is stopping"
        if self.recalibrations.running:
            return "a recalibration is running (GET /api/calibration)"
        if self.room.busy:
            return "an exposure is prepared or in progress"
        room = self.room.why_not_ready()
        if room:
            return f"the room is not ready: {room}"
        if self.exam is None:
            return "no exam selected (POST /api/exam)"
        return ""

    def status(self) -> dict[str, Any]:
        """Everything ``GET /api/status`` shows."""
        room = self.room.status()  # first: it judges the devices and the calibration now
        reason = self.not_ready()
        return {
            "station": {
                "ready": not reason,
                "reason": reason,
                "state": self.state,
                "version": _version(),
                "calling_ae": self.config.dicom.calling_ae,
                "last_failure": self.room.last_failure,
            },
            **room,
            "generator": {
                **room["generator"],
                "state": "FAULT" if self.room.generator_fault else self.generator_state,
            },
            "exam": self.exam.public() if self.exam else None,
            "mpps": self.steps.status(),
            "images": reject_counts(self.images.entries()),
            "outbox": {
                "directory": str(self.agent.outbox.root),
                "destinations": {n: str(d) for n, d in self.agent.destinations.items()},
                "counts": self.agent.outbox.counts(),
            },
        }

    # -- worklist and exam --------------------------------------------------------------
    def worklist(self) -> list[StudyContext]:
        """Ask the worklist for today's steps of this station (modality DX).

        Raises
        ------
        IncompatibleState
            No ``[worklist]`` is configured.
        DeliveryError
            The worklist SCP cannot be reached or refused the query.
        """
        wl: WorklistConfig | None = self.config.worklist
        if wl is None:
            raise IncompatibleState("no worklist is configured ([worklist] host, port)")
        calling_ae = self.config.dicom.calling_ae
        destination = Destination(
            wl.host,
            wl.port,
            called_ae=wl.called_ae,
            calling_ae=calling_ae,
            connect_s=wl.connect_s,
            dimse_s=wl.dimse_s,
        )
        return query_worklist(destination, WorklistQuery.today(calling_ae), self.agent.audit)

    def worklist_public(self) -> list[dict[str, Any]]:
        """Today's steps as the API lists them."""
        return [_study_public(s) for s in self.worklist()]

    def protocols_public(self) -> list[dict[str, Any]]:
        """List the protocol table as ``GET /api/protocols`` lists it."""
        return self.setup.protocols.public()

    def _protocol(self, form: TechniqueForm) -> ExamProtocol:
        """Return the protocol of a form: the table's entry with the form's overrides, or ad hoc.

        Raises
        ------
        InvalidField
            Not in the table and no ``BODYPART [VIEW]`` with ``kv`` and ``mas``.
        """
        entry = self.setup.protocols.get(form.protocol)
        if entry is None:
            try:
                body_part, view = parse_protocol(form.protocol)
            except UsageError as exc:
                names = ", ".join(self.setup.protocols.names())
                raise InvalidField("protocol", f"{exc}; or one of the table: {names}") from exc
            for key, value in (("kv", form.kv), ("mas", form.mas)):
                if value is None:
                    raise InvalidField(key, "is required for a protocol not in the table")
            assert form.kv is not None and form.mas is not None
            target_ei = self.config.dicom.target_exposure_index
            name = " ".join(form.protocol.upper().split())
            entry = ExamProtocol(name, body_part, view, form.kv, form.mas, False, target_ei, "")
        return dataclasses.replace(
            entry,
            kv=entry.kv if form.kv is None else form.kv,
            mas=entry.mas if form.mas is None else form.mas,
            ma=entry.ma if form.ma is None else form.ma,
        )

    def _use(self, study: StudyContext, source: str, protocol: ExamProtocol) -> Exam:
        """Check an exam as the exposure will, set its technique on the generator, select it."""
        request = ExposureRequest(
            protocol.kv, protocol.mas, study, protocol.workflow_protocol, protocol.ma,
            preset=protocol.preset or None, grid=protocol.grid, target_ei=protocol.target_ei,
        )  # fmt: skip
        self._check(request, source)
        try:
            self.room.set_technique(protocol.kv, protocol.mas, protocol.ma)
        except TechniqueOutOfRange as exc:
            raise InvalidField("mas", str(exc)) from exc
        exam = Exam(request, source, protocol)
        self._complete_study(study)
        self._finish_step(study)
        self.exam = exam
        self.bus.publish(
            "exam", source=source, protocol=protocol.name, kv=request.kv, mas=request.mas,
            target_ei=protocol.target_ei, preset=protocol.preset, grid=protocol.grid,
        )  # fmt: skip
        return exam

    def select_exam(self, form: ExamForm) -> Exam:
        """Select the exam of the next exposures, checked as the exposure will check it.

        The protocol's technique is set on the generator.

        Raises
        ------
        InvalidField
            A value the image or the generator cannot take; the field is named.
        LookupError
            No step with that accession is scheduled today.
        IncompatibleState
            The devices are not open, or an exposure is prepared or in progress.
        """
        protocol = self._protocol(form)
        if form.accession is not None:
            steps = [s for s in self.worklist() if s.accession_number == form.accession]
            if not steps:
                raise InvalidField("accession", "no DX step with this accession is scheduled today")
            study, source = steps[0], "worklist"
        else:
            assert form.patient is not None
            p = form.patient
            study = StudyContext(
                patient_name=p["name"],
                patient_id=p["id"],
                patient_birth_date=p.get("birth_date", ""),
                patient_sex=p.get("sex", ""),
                study_instance_uid=generate_uid(prefix=self.config.dicom.uid_root),
            )
            source = "manual"
        return self._use(study, source, protocol)

    def choose_protocol(self, form: TechniqueForm) -> Exam:
        """Change the protocol of the selected exam (same patient and study).

        Raises
        ------
        IncompatibleState
            No exam is selected, or an exposure is prepared or in progress.
        InvalidField
            See :meth:`select_exam`.
        """
        exam = self.exam
        if exam is None:
            raise IncompatibleState("no exam selected (POST /api/exam)")
        return self._use(exam.request.study, exam.source, self._protocol(form))

    def _check(self, request: ExposureRequest, source: str) -> None:
        try:
            parse_protocol(request.protocol)
        except UsageError as exc:
            raise InvalidField("protocol", str(exc)) from exc
        try:
            self.room.check(request)
        except TechniqueOutOfRange as exc:
            text = str(exc)
            field = "kv" if "voltage" in text else "ma" if "current" in text else "mas"
            raise InvalidField(field, text) from exc
        except DicomBuildError as exc:
            field = FIELD_OF_KEYWORD.get(exc.keyword, exc.keyword)
            if source == "worklist" and field not in ("protocol", "kv"):
                field = f"worklist item {exc.keyword}"
            raise InvalidField(field, str(exc)) from exc

    # -- exposures (two stages: prepare, expose) ----------------------------------------
    def repeat_of(self, exam: Exam) -> str:
        """Return the last image of this exam's step and protocol, or empty: none yet."""
        key = exam.step_key
        made = [e for e in self.images.entries() if e.step_key == key]
        return made[-1].sop_instance_uid if made else ""

    def prepare(self, repeat_reason: str = "", *, hold: bool = True) -> dict[str, Any]:
        """Press the first stage: start the exposure, return once the generator is READY.

        The exposure then waits for :meth:`expose` (the second stage), at most
        ``[station] ready_hold_s``; :meth:`abort` releases it.

        Parameters
        ----------
        repeat_reason : str
            Why the step is exposed again; required when its protocol already has an
            image (the new image is linked to it: ``repeat_of``).
        hold : bool
            False: do not wait at READY (one call from IDLE to the image).

        Raises
        ------
        IncompatibleState
            Not ready (no exam, not calibrated, busy, stopping, devices): nothing moved.
        InvalidField
            A repeat without ``repeat_reason``: nothing moved.
        PanelgateError
            The exposure was refused before PREP (:meth:`ExposureWorkflow.run`).
        """
        if not self._exposing.acquire(blocking=False):
            raise IncompatibleState("an exposure is prepared or in progress")
        try:
            reason = self.not_ready()
            if reason:
                raise IncompatibleState(reason)
            exam = self.exam
            assert exam is not None
            repeat_of = self.repeat_of(exam)
            if repeat_of and not repeat_reason.strip():
                raise InvalidField(
                    "repeat_reason",
                    f"{exam.protocol.name} of this step already has image {repeat_of}: "
                    "say why it is repeated",
                )
            self.agent.outbox.check_space(self.room.image_bytes())
            hold_s = self.setup.station.ready_hold_s if hold else None
            job: ExposureJob[dict[str, Any]] = ExposureJob(
                lambda: self._expose(exam, hold_s, repeat_of, repeat_reason.strip()),
                self._exposing.release,
            )
            self._job = job
            job.start()
        except BaseException:
            self._exposing.release()
            raise
        if hold:
            job.wait_settled(_SETTLE_TIMEOUT_S)
            if job.finished.is_set():
                job.outcome(0)  # raises the refusal
        return {"state": self.state, "generator": self.generator_state, "repeat_of": repeat_of}

    def expose(self, *, prepare: bool = False, repeat_reason: str = "") -> dict[str, Any]:
        """Press the second stage: fire the exposure held at READY; wait for its image.

        Parameters
        ----------
        prepare : bool
            When nothing is prepared: both stages in one call (API clients such as
            ``panelgate expose --station``); otherwise refused.
        repeat_reason : str
            With ``prepare``: as for :meth:`prepare`.

        Raises
        ------
        IncompatibleState
            The generator is not READY (nothing prepared, or still preparing) and
            ``prepare`` is not given: nothing moved.
        PanelgateError
            What :meth:`prepare` and the exposure raise (``PatientExposed`` after the beam).
        """
        job = self._job
        if job is None or job.finished.is_set():
            if not prepare:
                raise IncompatibleState(
                    f"the generator is not READY ({self.generator_state}): prepare first "
                    "(POST /api/prepare), expose once READY"
                )
            self.prepare(repeat_reason, hold=False)
            job = self._job
            assert job is not None
        else:
            switch = self.room.switch
            if self.state != "ready" or switch is None or not switch.press():
                raise IncompatibleState(
                    f"the generator is not READY ({self.generator_state}): expose once READY"
                )
        return job.outcome(_SETTLE_TIMEOUT_S)

    def _expose(
        self, exam: Exam, hold_s: float | None, repeat_of: str, repeat_reason: str
    ) -> dict[str, Any]:
        """Run one exposure (the job's thread); record and announce its image."""
        protocol = exam.protocol
        self.steps.exposure_starting(exam.request.study, scheduled=exam.source == "worklist")
        with protocol_phantom(self.room.url, exam.request.protocol):  # simulated: anatomy
            result = self.room.expose(exam.request, target_ei=protocol.target_ei, hold_s=hold_s)
        uid = result.sop_instance_uid
        entry = self.images.add(
            uid, **self._image_details(exam, result), repeat_of=repeat_of,
            repeat_reason=repeat_reason if repeat_of else "",
        )  # fmt: skip
        if self.setup.station.auto_accept:  # the workflow queued it in the outbox
            entry = self.images.decide(uid, Review.ACCEPTED)
            self._wake_delivery()
        review = entry.review
        self.bus.publish("image", sop_instance_uid=uid, review=review, repeat_of=repeat_of)
        d = result.delivered
        return {
            "sop_instance_uid": uid,
            "delivered": {"kv": d.kv, "ma": d.ma, "ms": d.ms, "mas": d.mas},
            "fresh_dark": result.fresh_dark,
            "review": review,
            "repeat_of": repeat_of,
        }

    def _image_details(self, exam: Exam, result: ExposureResult) -> dict[str, Any]:
        """Return what the reject analysis keeps of an image (AAPM TG-305; no patient data)."""
        ei = di = dap = None
        try:
            ds = pydicom.dcmread(result.spool_path, stop_before_pixels=True)
            ei = float(ds.ExposureIndex) if "ExposureIndex" in ds else None
            di = float(ds.DeviationIndex) if "DeviationIndex" in ds else None
            if "ImageAndFluoroscopyAreaDoseProduct" in ds:  # the exposure's DAP, dGy·cm²
                dap = float(ds.ImageAndFluoroscopyAreaDoseProduct)
        except (OSError, ValueError) as exc:
            _log.warning("exposure index of %s not read: %s", result.sop_instance_uid, exc)
        p, d = exam.protocol, result.delivered
        return {
            "step_key": exam.step_key, "protocol": p.name, "body_part": p.body_part,
            "view": p.view, "kv": d.kv, "mas": d.mas, "target_ei": p.target_ei,
            "ei": ei, "di": di, "dap_dgycm2": dap,
        }  # fmt: skip

    def abort(self) -> bool:
        """Abort the exposure in progress; False when there was none."""
        return self.room.abort()

    # -- images -------------------------------------------------------------------------
    def image(self, uid: str) -> dict[str, Any]:
        """One image as ``GET /api/images`` lists it.

        Raises
        ------
        UnknownImage
            No such image.
        """
        entry = self.images.get(uid)
        if entry is None:
            raise UnknownImage(f"no image {uid}")
        live = {dest: r for (u, dest), r in self.watch.records().items() if u == uid}
        return self._describe(uid, live)

    def image_list(self) -> list[dict[str, Any]]:
        """Every image, oldest first, with its state per destination."""
        records: dict[str, dict[str, Record]] = {}
        for (uid, dest), record in self.watch.records().items():
            records.setdefault(uid, {})[dest] = record
        return [self._describe(e.sop_instance_uid, records.get(e.sop_instance_uid, {}))
                for e in self.images.entries()]  # fmt: skip

    def _describe(self, uid: str, live: dict[str, Record]) -> dict[str, Any]:
        entry = self.images.get(uid)
        assert entry is not None
        destinations: dict[str, dict[str, Any]] = {}
        if entry.review == Review.ACCEPTED:
            for name in self.agent.destinations:
                record = live.get(name)
                if record is not None:
                    destinations[name] = {
                        "state": DELIVERY_STATE[record.state],
                        "outbox_state": record.state.value,
                        "reason": record.reason,
                        "attempts": record.attempts,
                    }
                elif name in entry.delivery:  # released from the outbox after delivery
                    seen = entry.delivery[name]
                    destinations[name] = {**seen, "outbox_state": "released", "attempts": 0}
                else:
                    destinations[name] = {"state": "queued", "outbox_state": "", "reason": ""}
        return {
            "sop_instance_uid": uid,
            "made_unix_s": entry.made_unix_s,
            "review": entry.review,
            "review_reason": entry.reason,
            "review_note": entry.note,
            "operator": entry.operator,
            "protocol": entry.protocol,
            "body_part": entry.body_part,
            "view": entry.view,
            "kv": entry.kv,
            "mas": entry.mas,
            "ei": entry.ei,
            "target_ei": entry.target_ei,
            "di": entry.di,
            "dap_dgycm2": entry.dap_dgycm2,
            "repeat_of": entry.repeat_of,
            "repeat_reason": entry.repeat_reason,
            "destinations": destinations,
            "preview": f"/api/images/{uid}/preview.png",
        }

    def accept(self, uid: str, operator: str = "") -> dict[str, Any]:
        """Queue an image for every destination (idempotent).

        Raises
        ------
        UnknownImage
            No such image.
        IncompatibleState
            The image was rejected.
        """
        entry = self.images.get(uid)
        if entry is None:
            raise UnknownImage(f"no image {uid}")
        if entry.review == Review.REJECTED:
            raise IncompatibleState(f"image {uid} was rejected: it stays local, never sent")
        if entry.review != Review.ACCEPTED:
            self.agent.outbox.enqueue_file(self.images.held_path(uid))
            self.images.decide(uid, Review.ACCEPTED, operator=operator)
            self._wake_delivery()
            self.bus.publish("image", sop_instance_uid=uid, review=Review.ACCEPTED)
        return self.image(uid)

    def _wake_delivery(self) -> None:
        for worker in self.agent.workers:
            worker.wake()
        self.watch.wake()

    def reject(self, uid: str, reason: str, note: str = "", operator: str = "") -> dict[str, Any]:
        """Keep an image local and never send it (idempotent); counted in the reject analysis.

        Parameters
        ----------
        uid : str
            The image's SOP Instance UID.
        reason : str
            An AAPM TG-305 reject reason (:data:`~.rejects.TG305_REASONS`, checked by the API).
        note : str
            The technician's free text (kept with the image, never exported).
        operator : str
            Who rejected it.

        Raises
        ------
        UnknownImage
            No such image.
        IncompatibleState
            The image was already accepted (queued for delivery).
        """
        entry = self.images.get(uid)
        if entry is None:
            raise UnknownImage(f"no image {uid}")
        if entry.review == Review.ACCEPTED:
            raise IncompatibleState(f"image {uid} was accepted and is queued for delivery")
        if entry.review != Review.REJECTED:
            self.images.decide(uid, Review.REJECTED, reason, note=note, operator=operator)
            self.bus.publish("image", sop_instance_uid=uid, review=Review.REJECTED, reason=reason)
        return self.image(uid)

    def rejects_csv(self) -> str:
        """Return the reject-analysis CSV of every rejected image (:mod:`.rejects`)."""
        dicom = self.config.dicom
        return rejects_csv(self.images.entries(), dicom.station_name or dicom.calling_ae)

    def retry(self, uid: str) -> dict[str, Any]:
        """Queue an image again for every destination whose delivery failed.

        Raises
        ------
        UnknownImage
            No such image.
        IncompatibleState
            The image was not accepted, or no delivery of it has failed.
        """
        entry = self.images.get(uid)
        if entry is None:
            raise UnknownImage(f"no image {uid}")
        if entry.review != Review.ACCEPTED:
            raise IncompatibleState(f"image {uid} is {entry.review}: only accepted ones are sent")
        outbox = self.agent.outbox
        failed = [r for r in outbox.records(state=State.FAILED) if r.sop_instance_uid == uid]
        if not failed:
            raise IncompatibleState(f"no delivery of image {uid} has failed: nothing to retry")
        for record in failed:
            outbox.move(record, State.PENDING, attempts=0, next_attempt_at=0.0, reason="")
        self.watch.wake()
        self._wake_delivery()
        return self.image(uid)

    # -- guided recalibration (:mod:`.recalibrations`) --------------------------------
    def calibration(self) -> dict[str, Any]:
        """Describe the calibration in use and the last recalibration run from the console."""
        return self.recalibrations.describe()

    def start_calibration(self) -> dict[str, Any]:
        """Start a guided recalibration (:meth:`GuidedRecalibrations.start`)."""
        return self.recalibrations.start()

    def answer_calibration(self, yes: bool, prompt_id: int | None = None) -> dict[str, Any]:
        """Answer the recalibration's open question (:meth:`GuidedRecalibrations.answer`)."""
        return self.recalibrations.answer(yes, prompt_id)

    def cancel_calibration(self) -> dict[str, Any]:
        """Stop the recalibration (:meth:`GuidedRecalibrations.cancel`)."""
        return self.recalibrations.cancel()

    # -- events -------------------------------------------------------------------------
    def _on_state(self, change: StateChange) -> None:
        self.agent.metrics.state_change(change)
        self.state = change.new.value
        generator = GENERATOR_STATE.get(self.state, "IDLE")
        if generator != self.generator_state:
            self.generator_state = generator
            self.bus.publish("generator", state=generator, fault=self.room.generator_fault)
        job = self._job
        if job is not None and self.state == "ready":
            job.mark_ready()
        self.bus.publish(
            "exposure",
            state=change.new.value,
            previous=change.old.value,
            event=change.event,
            detail=change.detail,
        )

    def _on_delivery(self, record: Record | None, uid: str, destination: str) -> None:
        if record is None:
            self.bus.publish(
                "delivery", sop_instance_uid=uid, destination=destination,
                state="released", outbox_state="released", reason="",
            )  # fmt: skip
            return
        state = DELIVERY_STATE[record.state]
        self.images.delivery_seen(uid, destination, state, record.reason)
        self.bus.publish(
            "delivery", sop_instance_uid=uid, destination=destination, state=state,
            outbox_state=record.state.value, reason=record.reason, attempts=record.attempts,
        )  # fmt: skip

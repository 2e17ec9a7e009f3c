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

import logging
import threading
from importlib import metadata
from typing import Any

from pydicom.uid import generate_uid

from panelgate.acquisition.agent import Agent
from panelgate.acquisition.calibration_lifecycle import Clock, utc_now
from panelgate.acquisition.config import WorklistConfig
from panelgate.acquisition.workflow import ExposureRequest, StateChange, parse_protocol
from panelgate.drivers import IncompatibleState, PanelgateError, UsageError
from panelgate.drivers.generator import TechniqueOutOfRange
from panelgate.gateway import DicomBuildError
from panelgate.gateway.dicom import StudyContext
from panelgate.gateway.outbox import Record, State
from panelgate.gateway.pacs import Destination, WorklistQuery, query_worklist

from .config import StationSetup
from .events import EventBus
from .exam import FIELD_OF_KEYWORD, Exam, ExamForm, InvalidField
from .exposures import Room
from .images import ImageIndex, Review
from .outbox_watch import OutboxWatch
from .startup import StartupPhases

__all__ = ["DELIVERY_STATE", "Station", "UnknownImage"]

_log = logging.getLogger(__name__)

DELIVERY_STATE = {
    State.PENDING: "queued",
    State.INFLIGHT: "queued",
    State.SENT: "sent",
    State.COMMITTED: "committed",
    State.FAILED: "failed",
}
"""The API's delivery state of an outbox state (``outbox_state`` gives the exact one)."""


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
            startup=self.startup,
        )  # fmt: skip
        self.watch = OutboxWatch(self.agent.outbox, self._on_delivery)
        self.exam: Exam | None = None
        self.state = "idle"
        self._exposing = threading.Lock()
        self._stopping = False
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
        try:
            self.room.open()
        except PanelgateError as exc:
            _log.warning("the room is not ready: %s", exc)
        self._upkeep.start()  # reconnects, retries, fresh darks while idle

    def drain(self) -> None:
        """Refuse new exposures and wait for the one in progress to finish."""
        self._stopping = True
        with self._exposing:
            pass

    def close(self) -> None:
        """Stop delivery (in-flight sends finished), close the devices, end event streams."""
        self._housekeeping_stop.set()
        for thread in (self._housekeeping, self._upkeep):
            if thread.is_alive():
                thread.join(timeout=10)
        self.agent.stop()
        self.watch.stop()
        self.room.close()
        self.bus.close()

    # -- status -------------------------------------------------------------------------
    def not_ready(self) -> str:
        """Why an exposure cannot start now; empty when it can."""
        if self._stopping:
            return "the station is stopping"
        if self.room.busy:
            return "an exposure is in progress"
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
            "exam": self.exam.public() if self.exam else None,
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

    def select_exam(self, form: ExamForm) -> Exam:
        """Select the exam of the next exposures, checked as the exposure will check it.

        Raises
        ------
        InvalidField
            A value the image or the generator cannot take; the field is named.
        LookupError
            No step with that accession is scheduled today.
        """
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
        request = ExposureRequest(form.kv, form.mas, study, form.protocol, form.ma)
        self._check(request, source)
        exam = Exam(request, source)
        self.exam = exam
        self.bus.publish(
            "exam", source=source, protocol=request.protocol, kv=request.kv, mas=request.mas
        )
        return exam

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

    # -- exposures ----------------------------------------------------------------------
    def expose(self) -> dict[str, Any]:
        """Make one exposure of the selected exam; the image waits for review.

        Raises
        ------
        IncompatibleState
            Not ready (no exam, busy, stopping, devices not open): nothing moved.
        OutboxFull, StorageError
            The image could not be kept: refused before anything moved.
        PanelgateError
            What :meth:`ExposureWorkflow.run` raises (refusals before the beam, or
            ``PatientExposed`` after it).
        """
        if not self._exposing.acquire(blocking=False):
            raise IncompatibleState("an exposure is in progress")
        try:
            reason = self.not_ready()
            if reason:
                raise IncompatibleState(reason)
            assert self.exam is not None
            self.agent.outbox.check_space(self.room.image_bytes())
            result = self.room.expose(self.exam.request)
            uid = result.sop_instance_uid
            entry = self.images.add(uid)
            if self.setup.station.auto_accept:  # the workflow queued it in the outbox
                entry = self.images.decide(uid, Review.ACCEPTED)
                self._wake_delivery()
            review = entry.review
            self.bus.publish("image", sop_instance_uid=uid, review=review)
            d = result.delivered
            return {
                "sop_instance_uid": uid,
                "delivered": {"kv": d.kv, "ma": d.ma, "ms": d.ms, "mas": d.mas},
                "fresh_dark": result.fresh_dark,
                "review": review,
            }
        finally:
            self._exposing.release()

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
            "destinations": destinations,
            "preview": f"/api/images/{uid}/preview.png",
        }

    def accept(self, uid: str) -> dict[str, Any]:
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
            self.images.decide(uid, Review.ACCEPTED)
            self._wake_delivery()
            self.bus.publish("image", sop_instance_uid=uid, review=Review.ACCEPTED)
        return self.image(uid)

    def _wake_delivery(self) -> None:
        for worker in self.agent.workers:
            worker.wake()
        self.watch.wake()

    def reject(self, uid: str, reason: str = "") -> dict[str, Any]:
        """Keep an image local and never send it (idempotent).

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
            self.images.decide(uid, Review.REJECTED, reason)
            self.bus.publish("image", sop_instance_uid=uid, review=Review.REJECTED)
        return self.image(uid)

    # -- events -------------------------------------------------------------------------
    def _on_state(self, change: StateChange) -> None:
        self.state = change.new.value
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

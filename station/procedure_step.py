"""The performed procedure step of the station's exam (IHE Scheduled Workflow RAD-6, RAD-7).

A step starts with its first exposure: it gets its Performed Procedure Step SOP Instance
UID then (the dose SR references it, PS3.3 C.17.2) and, for a worklist step with an
``[mpps]`` peer, an N-CREATE ``IN PROGRESS`` (PS3.4 F.7.2.1). It ends when the exam
changes to another study or scheduled step, or the station stops: N-SET ``COMPLETED``
with the images and every exposure's dose, rejected ones included (the Radiation Dose
module, PS3.3 C.4.16, built by :func:`~panelgate.gateway.pacs.mpps_finish`), or
``DISCONTINUED`` when the step made no image.

The requests go out in order on one thread, never on the exposure's: a failure never
holds an exposure back. A request that may succeed later is retried (``retry_s``, doubled
up to 60 s); the problem is the one line :meth:`ProcedureSteps.status` shows and is logged
at WARNING, without patient data. The queue lives in memory: requests still queued when
the station stops are logged as lost.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from pydicom.uid import generate_uid

from panelgate.acquisition.config import Config
from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.exposure_log import ExposureLog
from panelgate.drivers import PanelgateError
from panelgate.gateway import DeliveryError
from panelgate.gateway.dicom import StudyContext
from panelgate.gateway.pacs import (
    AuditTrail,
    Destination,
    PerformedImage,
    mpps_finish,
    mpps_in_progress,
)

__all__ = ["ProcedureSteps"]

_log = logging.getLogger(__name__)

_MAX_RETRY_S = 60.0


def _key(study: StudyContext) -> tuple[str, str, str]:
    """Which step an exam belongs to: study, scheduled step and accession."""
    return (
        study.study_instance_uid or "",
        study.scheduled_procedure_step_id,
        study.accession_number,
    )


@dataclass
class _Step:
    study: StudyContext
    uid: str
    before: frozenset[str]  # events of the study logged before the step began
    send: bool  # a worklist step, and an [mpps] peer to tell


@dataclass
class _Request:
    kind: str  # "N-CREATE" or "N-SET"
    uid: str
    send: Callable[[], None] = field(repr=False)


class ProcedureSteps:
    """The station's current step and the MPPS requests not yet delivered.

    Parameters
    ----------
    destination : Destination or None
        The MPPS SCP; None: steps get their UID but nothing is sent.
    log : ExposureLog
        The exposure log the workflow writes (the dose of each exposure of the step).
    station_ae, uid_root : str
        Performed Station AE Title; the root of the step's UID.
    audit : AuditTrail, optional
        Where each request is recorded.
    retry_s : float
        First wait after a failure that may pass (s); doubled up to 60 s.
    """

    def __init__(
        self,
        destination: Destination | None,
        log: ExposureLog,
        *,
        station_ae: str,
        uid_root: str,
        audit: AuditTrail | None = None,
        retry_s: float = 5.0,
    ) -> None:
        self.destination = destination
        self.log = log
        self.station_ae = station_ae
        self.uid_root = uid_root
        self.audit = audit
        self.retry_s = retry_s
        self.problem = ""
        self.delivered = 0
        self._step: _Step | None = None
        self._queue: deque[_Request] = deque()
        self._refused: set[str] = set()  # steps whose N-CREATE was refused: never set
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._serve, name="mpps", daemon=True)

    @classmethod
    def from_config(cls, config: Config, log: ExposureLog, audit: AuditTrail) -> ProcedureSteps:
        """Return the steps of a station configured by ``config`` (``[mpps]``, ``[dicom]``)."""
        mpps = config.mpps
        calling_ae = config.dicom.calling_ae
        destination = None
        if mpps is not None:
            destination = Destination(
                mpps.host, mpps.port, called_ae=mpps.called_ae, calling_ae=calling_ae,
                connect_s=mpps.connect_s, dimse_s=mpps.dimse_s,
            )  # fmt: skip
        return cls(
            destination, log, station_ae=calling_ae, uid_root=config.dicom.uid_root,
            audit=audit, retry_s=mpps.retry_s if mpps is not None else 5.0,
        )  # fmt: skip

    def start(self) -> None:
        """Start the thread that sends the requests."""
        self._thread.start()

    # -- the step -----------------------------------------------------------------------
    def exposure_starting(self, study: StudyContext, *, scheduled: bool) -> str:
        """Note an exposure of ``study``'s exam; the first one of a step begins it.

        Returns the step's Performed Procedure Step SOP Instance UID. For a worklist step
        (``scheduled``) with a peer configured, its N-CREATE is queued.
        """
        with self._cond:
            step = self._step
            if step is not None and _key(step.study) == _key(study):
                return step.uid
        self.finish(study)  # another step was open: it ends here
        uid = generate_uid(prefix=self.uid_root)
        step = _Step(study, uid, self._logged(study), scheduled and self.destination is not None)
        with self._cond:
            self._step = step
        if step.send:
            self._queue_request("N-CREATE", uid, lambda: self._create(step))
        return uid

    def uid_of(self, study_uid: str) -> str:
        """Return the current step's UID when it is of that study; empty otherwise."""
        step = self._step
        return step.uid if step is not None and step.study.study_instance_uid == study_uid else ""

    def finish(self, following: StudyContext | None, rejected: Collection[str] = ()) -> None:
        """End the current step unless ``following`` belongs to it (None: the station stops).

        ``rejected`` are the SOP Instance UIDs of the images kept local: in the dose,
        not in the performed series.
        """
        with self._cond:
            step = self._step
            if step is None or (following is not None and _key(following) == _key(step.study)):
                return
            self._step = None
        if not step.send:
            return
        images = [
            PerformedImage.from_event(e)
            for e in self._events(step.study)
            if e.irradiation_event_uid not in step.before
        ]
        kept = frozenset(rejected)

        def send() -> None:
            mpps_finish(
                self._destination(), step.uid, images, discontinued=not images,
                audit=self.audit, rejected=kept,
            )  # fmt: skip

        self._queue_request("N-SET", step.uid, send)

    def close(self, timeout_s: float = 10.0) -> None:
        """Wait up to ``timeout_s`` for the queued requests, then stop; log what is lost."""
        with self._cond:
            self._cond.wait_for(lambda: not self._queue, timeout=timeout_s)
            self._stop = True
            lost = len(self._queue)
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
        if lost:
            _log.warning("%d MPPS request(s) not delivered before the station stopped", lost)

    def status(self) -> dict[str, Any]:
        """Return what ``GET /api/status`` shows: configured, queued, delivered, the problem."""
        with self._cond:
            step = self._step
            return {
                "configured": self.destination is not None,
                "step_uid": step.uid if step is not None else "",
                "queued": len(self._queue),
                "delivered": self.delivered,
                "problem": self.problem,
            }

    # -- helpers ------------------------------------------------------------------------
    def _destination(self) -> Destination:
        assert self.destination is not None
        return self.destination

    def _events(self, study: StudyContext) -> list[Any]:
        try:
            return list(self.log.read_study(study.study_instance_uid or "").events)
        except UsageError:  # no exposure of this study logged
            return []

    def _logged(self, study: StudyContext) -> frozenset[str]:
        return frozenset(e.irradiation_event_uid for e in self._events(study))

    def _create(self, step: _Step) -> None:
        mpps_in_progress(
            self._destination(), step.study, station_ae=self.station_ae,
            uid_root=self.uid_root, audit=self.audit, uid=step.uid,
        )  # fmt: skip

    def _queue_request(self, kind: str, uid: str, send: Callable[[], None]) -> None:
        with self._cond:
            self._queue.append(_Request(kind, uid, send))
            self._cond.notify_all()

    def _serve(self) -> None:
        wait_s = self.retry_s
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._stop)
                if self._stop:
                    return
                request = self._queue[0]
                if request.uid in self._refused:  # its N-CREATE was refused: nothing to set
                    self._queue.popleft()
                    self._cond.notify_all()
                    continue
            try:
                request.send()
            except DeliveryError as exc:
                if exc.retryable:
                    self._report(f"MPPS {request.kind} of step {request.uid} waits: {exc}")
                    with self._cond:
                        self._cond.wait_for(lambda: self._stop, timeout=wait_s)
                    wait_s = min(wait_s * 2, _MAX_RETRY_S)
                    continue
                self._report(f"MPPS {request.kind} of step {request.uid} refused: {exc}")
                self._drop(request)
                continue
            except PanelgateError as exc:  # a value the request could not carry
                self._report(f"MPPS {request.kind} of step {request.uid} not sent: {exc}")
                self._drop(request)
                continue
            wait_s = self.retry_s
            with self._cond:
                self._queue.popleft()
                self.delivered += 1
                self.problem = ""
                self._cond.notify_all()

    def _report(self, line: str) -> None:
        _log.warning("%s", line)  # names the peer and the step, never the patient
        with self._cond:
            self.problem = line

    def _drop(self, request: _Request) -> None:
        """Drop a request that cannot succeed; after a refused N-CREATE, its step's N-SET too."""
        with self._cond:
            self._queue.popleft()
            if request.kind == "N-CREATE":
                self._refused.add(request.uid)
            self._cond.notify_all()

"""The exposure workflow: one radiographic exposure as an explicit state machine.

The technician sets kV and mAs and presses prep; the generator spins up while the panel
is armed; the exposure fires; the panel reads out; the image is corrected, built into a DX
instance and queued in the local spool. :data:`TRANSITIONS` *is* the machine: the workflow
can only move along an edge listed there, and every move is reported to the listeners.

==========  ===========  ==========  =====================================================
From        Event        To          What happens on the way
==========  ===========  ==========  =====================================================
IDLE        ``prep``     PREPARING   (fresh dark if stale) set kV/mAs, PREP, arm the panel
PREPARING   ``ready``    READY       generator reported READY within ``prep_s``
READY       ``fire``     EXPOSING    EXP sent; dose reaches the panel
EXPOSING    ``done``     READOUT     DONE with the delivered kV, mA, ms, mAs; trigger
READOUT     ``frame``    PROCESSING  the frame arrived within ``readout_s``
READOUT     ``raw``      IDLE        (:meth:`~ExposureWorkflow.run_raw`) the frame arrived;
                                     handed over uncorrected (a calibration flood)
PROCESSING  ``queued``   QUEUED      corrected, DX built with the delivered technique, spooled
QUEUED      ``next``     IDLE        ready for the next exposure
(any)       ``abort``    IDLE        the host aborted: generator and panel aborted
(any)       ``fail``     FAILED      an error: generator and panel aborted
FAILED      ``reset``    IDLE        after the clean-up; the error is re-raised
==========  ===========  ==========  =====================================================

:meth:`ExposureWorkflow.run_raw` goes through the same states from IDLE to READOUT (the
same PREP, READY, EXP, DONE and readout, and the same recovery) and hands the raw frame
over instead of processing it: how ``panelgate calibrate --generator`` takes its floods.

Before ``prep``, with an outbox, the workflow checks that the outbox's disk can hold the
image above its reserve (:meth:`~panelgate.gateway.outbox.Outbox.check_space`): when it
cannot, the exposure is refused (:class:`~panelgate.gateway.OutboxFull`) before anything
moves, so that no patient is exposed for an image that could not be kept. An image once
acquired is always queued, the reserve being there for it.

Trigger modes (:class:`TriggerMode`): ``software`` — the workflow triggers the panel's
readout once the generator reports the exposure done; ``generator`` — the generator's
sync output starts the panel's integration when the tube fires; ``aed`` — the panel
detects the dose itself (automatic exposure detection). In ``generator`` and ``aed``
nobody triggers the readout: right after arming, the workflow hands its start to the
panel's own source (``trigger()`` on a panel so configured) and only waits for the frame.
The generator is any :class:`~panelgate.drivers.generator.Generator` (the serial link,
or the simulated one); its beam reaches the panel physically, also in simulation (the
X-ray room of :mod:`panelgate.simulators.room`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydicom import Dataset
from pydicom.uid import generate_uid

from panelgate.drivers import (
    DetectorTimeout,
    Frame,
    IncompatibleState,
    PanelgateError,
    PatientExposed,
    ReadCancelled,
)
from panelgate.drivers.generator import Delivered, Generator, GeneratorFault
from panelgate.gateway.dicom import Technique
from panelgate.gateway.outbox import Outbox

from .dose_record import device_observer, exposure_dose, irradiation_event, study_of
from .exposure import (
    CalibrationHolder,
    ExposureRequest,
    TriggerMode,
    parse_protocol,
    quick_calibration,
)
from .exposure_log import ExposureLog
from .flood_technique import check_before_flood
from .interrupts import DeferredInterrupt
from .pipeline import Pipeline
from .preflight import Preflight, check_before_beam, instance_bytes
from .preview import write_preview
from .rescue import ExposureInterrupted, ExposureRecord, keep_exposure

__all__ = [
    "TRANSITIONS",
    "CalibrationHolder",
    "ExposureInterrupted",
    "ExposureRequest",
    "ExposureResult",
    "ExposureState",
    "ExposureWorkflow",
    "RawExposure",
    "StateChange",
    "TriggerMode",
    "WorkflowAborted",
    "WorkflowTimeouts",
    "instance_bytes",
    "parse_protocol",
    "quick_calibration",
]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class ExposureState(enum.Enum):
    """Where an exposure is; see the module's table."""

    IDLE = "idle"
    PREPARING = "preparing"
    READY = "ready"
    EXPOSING = "exposing"
    READOUT = "readout"
    PROCESSING = "processing"
    QUEUED = "queued"
    FAILED = "failed"


_S = ExposureState
TRANSITIONS: dict[tuple[ExposureState, str], ExposureState] = {
    (_S.IDLE, "prep"): _S.PREPARING,
    (_S.PREPARING, "ready"): _S.READY,
    (_S.READY, "fire"): _S.EXPOSING,
    (_S.EXPOSING, "done"): _S.READOUT,
    (_S.READOUT, "frame"): _S.PROCESSING,
    (_S.READOUT, "raw"): _S.IDLE,
    (_S.PROCESSING, "queued"): _S.QUEUED,
    (_S.QUEUED, "next"): _S.IDLE,
    (_S.FAILED, "reset"): _S.IDLE,
    **{(s, "abort"): _S.IDLE for s in _S if s is not _S.IDLE},
    **{(s, "fail"): _S.FAILED for s in _S if s is not _S.FAILED},
}
"""The exposure state machine: ``(state, event) -> next state``; nothing else is allowed."""


class WorkflowAborted(PanelgateError, RuntimeError):
    """The exposure was aborted by the host; generator and panel were returned to idle."""


@dataclass(frozen=True)
class StateChange:
    """One move of the state machine, as reported to listeners."""

    old: ExposureState
    new: ExposureState
    event: str
    detail: str
    t_mono_s: float


@dataclass(frozen=True)
class WorkflowTimeouts:
    """Longest waits of each phase, in seconds.

    Parameters
    ----------
    prep_s : float
        PREP to READY.
    exposure_margin_s : float
        Beyond the set exposure time, until the generator reports DONE.
    readout_s : float
        DONE (or trigger) to the complete frame.
    """

    prep_s: float = 5.0
    exposure_margin_s: float = 2.0
    readout_s: float = 10.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"timeout {f.name} must be positive and finite, got {value!r}")


@dataclass(frozen=True)
class ExposureResult:
    """Where one exposure's image went, and how it was made."""

    sop_instance_uid: str
    spool_path: Path
    preview_path: Path
    delivered: Delivered
    fresh_dark: bool
    done_to_queued_s: float


@dataclass(frozen=True)
class RawExposure:
    """One exposure's raw frame and the technique the generator delivered for it."""

    frame: Frame
    delivered: Delivered


Listener = Callable[[StateChange], None]
StageListener = Callable[[str, float], None]


class ExposureWorkflow:
    """Runs exposures through :data:`TRANSITIONS`; see the module docstring.

    Parameters
    ----------
    pipeline : Pipeline
        Over a connected, configured detector: correction, DX building, spooling.
    generator : Generator
        An open generator (anything satisfying the generator contract).
    calibration : CalibrationHolder or None
        Maps in use; its ``is_stale``/``refresh_dark`` decide the fresh dark (replaceable).
        None for a workflow that only takes raw frames (:meth:`run_raw`).
    spool_dir : pathlib.Path
        Where DX files are written when there is no ``outbox``; previews go to
        ``spool_dir/../preview``.
    trigger : TriggerMode
        Who starts the readout.
    timeouts : WorkflowTimeouts
        Longest waits of each phase.
    dark_is_stale, take_dark : callable, optional
        "Is the dark map stale?" and "take a fresh dark": the calibration-validity rules
        plug in here; by default ``calibration.is_stale`` and ``calibration.refresh_dark``.
    outbox : Outbox, optional
        Where instances are queued for delivery (fsynced before QUEUED); its disk reserve
        is checked before each exposure.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        generator: Generator,
        calibration: CalibrationHolder | None,
        spool_dir: Path,
        *,
        trigger: TriggerMode = TriggerMode.SOFTWARE,
        timeouts: WorkflowTimeouts | None = None,
        dark_is_stale: Callable[[], bool] | None = None,
        take_dark: Callable[[], None] | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        if not isinstance(generator, Generator):
            raise TypeError(f"{type(generator).__name__} does not satisfy the Generator contract")
        self.pipeline = pipeline
        self.outbox = outbox
        self.detector = pipeline.detector
        self.generator = generator
        self._calibration = calibration
        self.spool_dir = Path(spool_dir)
        self.trigger = trigger
        self.timeouts = timeouts or WorkflowTimeouts()
        self.state = ExposureState.IDLE
        self.dark_is_stale: Callable[[], bool] = dark_is_stale or (
            lambda: self.calibration.is_stale()  # noqa: PLW0108 - read when asked: may raise
        )
        self.take_dark: Callable[[], None] = take_dark or (
            lambda: self.calibration.refresh_dark(pipeline)
        )
        self._listeners: list[Listener] = []
        self._stage_listeners: list[StageListener] = []
        self._cancel = threading.Event()

    @property
    def calibration(self) -> CalibrationHolder:
        """The maps applied to each image.

        Raises
        ------
        IncompatibleState
            A workflow made without calibration (it takes raw frames only).
        """
        if self._calibration is None:
            raise IncompatibleState("this workflow has no calibration: it takes raw frames only")
        return self._calibration

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(change)`` on every state change (from the workflow's thread)."""
        self._listeners.append(listener)

    def subscribe_stages(self, listener: StageListener) -> None:
        """Call ``listener(stage, seconds)`` after each stage of an image is done.

        Stages: ``correction``, ``presentation``, ``build`` and ``queue`` (the metrics'
        ``panelgate_stage_seconds``). A listener that raises is logged, never fails the
        exposure.
        """
        self._stage_listeners.append(listener)

    @contextlib.contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        yield
        seconds = time.monotonic() - t0
        for listener in self._stage_listeners:
            try:
                listener(name, seconds)
            except Exception:  # a meter must not fail an exposure
                _log.exception("stage listener failed")

    def abort(self) -> None:
        """Abort the exposure in progress from another thread; the run raises WorkflowAborted."""
        self._cancel.set()

    def run(self, request: ExposureRequest) -> ExposureResult:
        """Make one exposure; see the module's table.

        Raises
        ------
        UsageError, TechniqueOutOfRange, DicomBuildError, CalibrationMismatch
            The request was refused before anything moved (:func:`check_before_beam`).
        OutboxFull, StorageError
            The image could not be kept: refused before anything moved; nothing already
            queued is touched.
        WorkflowAborted
            :meth:`abort` was called before the beam; both devices are idle again.
        PatientExposed
            Something failed after the beam: the message says so first, and where the
            image (or the raw frame) and the exposure record were kept.
        ExposureInterrupted
            SIGINT after the beam: the image was secured first (a second SIGINT stops at
            once, keeping what there is).
        PanelgateError
            Any other device failure before the beam; both devices are idle again and
            the state is IDLE, so the next exposure can start.
        """
        self._ready_to_start()
        preflight = check_before_beam(
            self.pipeline,
            request,
            self.calibration.calibration,
            limits=self.generator.limits(),
            ma_now=self.generator.settings()["ma"],
            outbox=self.outbox,
            folders=(self.preview_dir, self.kept_dir),
            trigger=self.trigger,
        )
        return self._guarded(lambda: self._run(request, preflight))

    def run_raw(self, kv: float, mas: float, ma: float | None = None) -> RawExposure:
        """Make one exposure and return its raw frame, uncorrected and kept nowhere.

        The same sequence as :meth:`run` from PREP to the readout (the module's table),
        after the checks that concern a raw frame
        (:func:`~.flood_technique.check_before_flood`); the frame is handed over in
        READOUT (event ``raw``) and the workflow is IDLE again. For calibration floods:
        no patient is in the beam, so nothing is kept after a failure.

        Parameters
        ----------
        kv, mas : float
            Tube voltage (kV) and current-time product (mAs).
        ma : float, optional
            Tube current, mA (the generator's current setting when None).

        Raises
        ------
        TechniqueOutOfRange
            A value outside the generator's range (nothing moved).
        UsageError
            The panel's trigger source is not the workflow's trigger mode (nothing moved).
        IncompatibleState
            The detector is not connected or has no readout mode; an exposure in progress.
        WorkflowAborted
            :meth:`abort` was called; both devices are idle again.
        PanelgateError
            A device failed; both devices are idle again and the state is IDLE.
        """
        self._ready_to_start()
        exposure_ms = check_before_flood(
            self.pipeline, kv, mas, ma,
            limits=self.generator.limits(), ma_now=self.generator.settings()["ma"],
            trigger=self.trigger,
        )  # fmt: skip
        return self._guarded(lambda: self._run_raw(kv, mas, ma, exposure_ms))

    def _ready_to_start(self) -> None:
        if self.state is ExposureState.QUEUED:
            self._move("next")
        if self.state is not ExposureState.IDLE:
            raise IncompatibleState(f"an exposure is already {self.state.value}")

    def _guarded(self, sequence: Callable[[], _T]) -> _T:
        """Run an exposure's sequence; on any failure return both devices to idle."""
        self._cancel.clear()
        try:
            return sequence()
        except PanelgateError as exc:
            if self._cancel.is_set() and not isinstance(exc, WorkflowAborted | PatientExposed):
                aborted = WorkflowAborted(f"exposure aborted by the host while {self.state.value}")
                self._recover(aborted)
                raise aborted from exc
            self._recover(exc)
            raise
        except BaseException as exc:
            self._recover(exc)
            raise

    @property
    def preview_dir(self) -> Path:
        """Where the preview PNGs go."""
        return self.spool_dir.parent / "preview"

    @property
    def kept_dir(self) -> Path:
        """Where what an exposure produced is kept when it fails after the beam."""
        return self.spool_dir.parent / "exposed"

    # -- the phases -------------------------------------------------------------------------
    def _run(self, request: ExposureRequest, preflight: Preflight) -> ExposureResult:
        fresh_dark = self.dark_is_stale()
        if fresh_dark:
            _log.info("dark map is stale: taking a fresh dark before the exposure")
            self.take_dark()
        self._prepare(
            request.kv,
            request.mas,
            request.ma,
            f"{request.kv:g} kV, {request.mas:g} mAs" + (", fresh dark" if fresh_dark else ""),
        )
        record = ExposureRecord(
            request, dt.datetime.now(dt.UTC), self.calibration.calibration.set_id
        )
        with DeferredInterrupt() as interrupt:
            try:
                self.generator.expose()
            except GeneratorFault:
                raise  # the generator refused EXP (interlock...): no beam
            except BaseException as exc:  # no answer: the beam may have fired
                raise keep_exposure(record, exc, self._keep_folders(), certain=False) from exc
            try:
                self._move("fire", self.trigger.value)
                result = self._after_beam(record, preflight, fresh_dark)
            except PatientExposed:
                raise
            except BaseException as exc:
                raise keep_exposure(
                    record, exc, self._keep_folders(),
                    certain=self.generator.confirms_exposure or record.frame is not None,
                    beam_wait_s=self.timeouts.readout_s,
                ) from exc  # fmt: skip
        if interrupt.pending:
            raise keep_exposure(record, KeyboardInterrupt(), self._keep_folders())
        return result

    def _prepare(self, kv: float, mas: float, ma: float | None, detail: str) -> None:
        """IDLE to READY: set the technique, arm the panel, PREP, wait for READY."""
        self._move("prep", detail)
        self.generator.set_technique(kv, mas, ma)
        self.detector.arm()
        if self.trigger is not TriggerMode.SOFTWARE:
            self.detector.trigger()  # the readout now starts on the sync or the dose
        self.generator.prep()
        self.generator.wait_ready(self.timeouts.prep_s, self._cancel)
        self._move("ready")
        self._check_cancel()

    def _run_raw(self, kv: float, mas: float, ma: float | None, exposure_ms: float) -> RawExposure:
        self._prepare(kv, mas, ma, f"{kv:g} kV, {mas:.3g} mAs, raw frame")
        self.generator.expose()
        self._move("fire", self.trigger.value)
        delivered, frame, _ = self._readout(exposure_ms, None)
        self._move("raw", f"frame {frame.meta.frame_id}")
        return RawExposure(frame, delivered)

    def _readout(
        self, exposure_ms: float, record: ExposureRecord | None
    ) -> tuple[Delivered, Frame, float]:
        """EXPOSING to the frame read: DONE, (trigger), readout; ``record`` keeps each part.

        Returns the delivered technique, the frame and when DONE came (monotonic seconds).
        """
        t = self.timeouts
        delivered = self.generator.wait_done(exposure_ms / 1000 + t.exposure_margin_s, self._cancel)
        if record is not None:
            record.delivered = delivered
        t_done = time.monotonic()
        self._move(
            "done",
            f"delivered {delivered.kv:g} kV, {delivered.ma:g} mA, {delivered.ms:g} ms, "
            f"{delivered.mas:g} mAs",
        )
        if self.trigger is TriggerMode.SOFTWARE:
            self.detector.trigger()
        frame = self._read_frame(t.readout_s)
        if record is not None:
            record.frame = frame
        return delivered, frame, t_done

    def _after_beam(
        self, record: ExposureRecord, preflight: Preflight, fresh_dark: bool
    ) -> ExposureResult:
        """From the beam to the queued image; ``record`` keeps what exists at each step."""
        delivered, frame, t_done = self._readout(preflight.exposure_ms, record)
        self._move("frame", f"frame {frame.meta.frame_id}")
        technique = Technique(
            kvp=delivered.kv,
            exposure_uas=delivered.mas * 1000.0,
            exposure_time_ms=delivered.ms,
            body_part=preflight.body_part,
            view_position=preflight.view_position,
            irradiation_event_uid=generate_uid(prefix=self.pipeline.config.dicom.uid_root),
            dose=exposure_dose(self.generator, delivered, self.pipeline.config),
        )
        with self._stage("correction"):
            image = self.pipeline.correct(frame, self.calibration.calibration)
        record.corrected = image.pixels
        request = record.request
        with self._stage("presentation"):
            presentation = self.pipeline.present(
                image, request.preset, request.grid, request.target_ei
            )
        with self._stage("build"):
            ds, window = self.pipeline.build(image, record.request.study, technique, presentation)
        record.dataset = ds
        if self.pipeline.config.dicom.send_for_processing and self.outbox is not None:
            # the linear image too, first; only with an outbox: an image written for
            # review (no outbox) is sent once accepted, and the review knows one instance
            study = study_of(ds, record.request.study)  # the same study, its own series
            self._queue(self.pipeline.build_for_processing(image, study, technique, presentation))
        with self._stage("queue"):
            spool_path = self._queue(ds)
        record.queued_path = spool_path
        self._log_dose(ds, technique, record)
        t_queued = time.monotonic()
        preview = write_preview(  # the processed image, as the For Presentation instance
            presentation.pixels,
            window,
            self.preview_dir / f"{ds.SOPInstanceUID}.png",
            invert=presentation.monochrome1,
        )
        self._move("queued", str(spool_path))
        return ExposureResult(
            sop_instance_uid=str(ds.SOPInstanceUID),
            spool_path=spool_path,
            preview_path=preview,
            delivered=delivered,
            fresh_dark=fresh_dark,
            done_to_queued_s=t_queued - t_done,
        )

    @property
    def dose_log(self) -> ExposureLog:
        """The exposure log, beside the kept images (``spool_dir/../dose``)."""
        return ExposureLog(self.spool_dir.parent / "dose")

    def _log_dose(self, ds: Dataset, technique: Technique, record: ExposureRecord) -> None:
        """Log the exposure's dose for the study's dose SR; a failure is reported, not raised.

        The image is queued already and carries the same dose; an exposure log that cannot
        be written must not turn a good exposure into a failed one.
        """
        assert record.delivered is not None
        try:
            event = irradiation_event(
                ds, technique, record.delivered,
                started=record.fired_utc, protocol=record.request.protocol,
            )  # fmt: skip
            self.dose_log.record(
                study_of(ds, record.request.study),
                device_observer(self.pipeline.config, self.pipeline.info),
                event,
            )
        except (PanelgateError, ValueError) as exc:
            _log.error("exposure %s: its dose could not be logged: %s", ds.SOPInstanceUID, exc)

    def _keep_folders(self) -> tuple[Path, ...]:
        """Where to keep an exposure's data: beside the spool, else the user's own folder."""
        return (self.kept_dir, Path.home() / ".local" / "share" / "panelgate" / "exposed")

    def _queue(self, ds: Dataset) -> Path:
        if self.outbox is None:
            return self.pipeline.write(ds, self.spool_dir)
        self.outbox.enqueue_dataset(ds, acquired=True)
        return self.outbox.object_path(str(ds.SOPInstanceUID))

    def _read_frame(self, timeout_s: float) -> Frame:
        """Wait for the frame: one read that :meth:`abort` cancels through the workflow's event.

        One wait, one detector timeout when it runs out (no slices counted as timeouts).
        """
        self._check_cancel()
        try:
            return self.detector.read_frame(timeout_s, cancel=self._cancel)
        except ReadCancelled:
            self._check_cancel()
            raise
        except DetectorTimeout:
            raise DetectorTimeout(
                f"no frame from the detector within {timeout_s:g} s of the exposure"
            ) from None

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise WorkflowAborted(f"exposure aborted by the host while {self.state.value}")

    def _recover(self, exc: BaseException) -> None:
        """Return generator and detector to idle; end in IDLE (via FAILED for errors)."""
        aborted = isinstance(exc, WorkflowAborted | KeyboardInterrupt | ExposureInterrupted)
        if not aborted:
            self._move("fail", str(exc))
        for what, action in (
            ("generator", self.generator.abort),
            ("detector", self.detector.abort),
        ):
            try:
                action()
            except PanelgateError as cleanup_exc:
                _log.warning("could not abort the %s after %s: %s", what, exc, cleanup_exc)
        if aborted and self.state is not ExposureState.IDLE:
            self._move("abort", str(exc))
        elif not aborted:
            self._move("reset", "generator and detector aborted")

    def _move(self, event: str, detail: str = "") -> None:
        old = self.state
        new = TRANSITIONS.get((old, event))
        if new is None:
            raise IncompatibleState(f"exposure workflow: no '{event}' transition from {old.value}")
        self.state = new
        _log.info("exposure %s -> %s (%s) %s", old.value, new.value, event, detail)
        change = StateChange(old, new, event, detail, time.monotonic())
        for listener in self._listeners:
            listener(change)

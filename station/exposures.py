"""The room's devices as the station uses them: generator, detector, calibration, exposures.

The one place where the station touches the exposure side of panelgate:

- the generator of ``[station] generator`` and the detector of ``[detector] url``
  (:mod:`.devices`: a simulated panel stands in the simulated generator's X-ray room, so
  that its beam reaches it physically), the detector in its native readout mode;
- the calibration from the store, or a quick one of a simulated panel when configured
  (:mod:`.calibration_state`);
- exposures through :class:`~panelgate.acquisition.workflow.ExposureWorkflow` with the
  :class:`~panelgate.drivers.generator.Generator` contract: the image is written to the
  review folder and queued only once accepted, or (``auto_accept``) queued in the outbox
  by the workflow itself.

While the station is idle, :meth:`Room.upkeep` (every ``[station] idle_check_s``, from the
station's upkeep thread) looks after the devices, never during an exposure:

- the detector: its status is read over the link; a lost link (a USB panel unplugged, a
  GigE panel silent) makes the station not ready, and it is reconnected in the
  background, attempt after attempt, the waits doubling from 0.25 s to
  ``reconnect_max_wait_s`` (:func:`~panelgate.acquisition.relink.reconnect`: same serial
  number, the readout mode set again); an exposure that fails on the link starts the same;
- the generator (:mod:`.generator_link`): one that stops answering, or reports a fault,
  makes the station not ready until it answers again; one whose port broke (a write
  timeout, a USB-serial adapter unplugged, the other side of a pty gone) is reopened in the
  background with the detector's backoff and must identify itself as before; an
  exposure that fails on the generator's port starts the same;
- the dark map: when stale (``[calibration] dark_max_age_s``, or the panel's temperature
  moved), a fresh dark is taken now rather than before the next patient's exposure.

While an exposure runs (or a fresh dark is taken), :meth:`Room.status` reports what it saw
last instead of asking the devices (their links serve one request at a time).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from panelgate.acquisition.calibration_lifecycle import CalibrationHolder, Clock, utc_now
from panelgate.acquisition.config import Config
from panelgate.acquisition.detectors import open_detector
from panelgate.acquisition.pipeline import Pipeline
from panelgate.acquisition.preflight import check_header, instance_bytes
from panelgate.acquisition.relink import ReconnectPolicy, reconnect
from panelgate.acquisition.workflow import (
    ExposureRequest,
    ExposureResult,
    ExposureWorkflow,
    StateChange,
    TriggerMode,
    WorkflowTimeouts,
)
from panelgate.calibration import warm_up
from panelgate.drivers import (
    Detector,
    IncompatibleState,
    PanelgateError,
    ReadoutMode,
    TransportError,
)
from panelgate.drivers.generator import Generator
from panelgate.gateway.outbox import Outbox
from panelgate.simulators import Irradiable

from . import calibration_state
from .config import StationConfig
from .devices import open_generator, panel_url
from .generator_link import GeneratorLink, broken_port_of
from .hand_switch import HandSwitch
from .read_ahead import PrefetchedStore
from .startup import StartupPhases

__all__ = ["Room", "RoomStatus"]

_log = logging.getLogger(__name__)

RoomStatus = dict[str, Any]
"""The ``detector``, ``generator`` and ``calibration`` parts of ``GET /api/status``."""

OnEvent = Callable[..., object]
"""``on_event(kind, **data)``: a room event for the station's event stream."""

_FIRST_WAIT_S = 0.25
"""Wait before the first reconnection attempt, doubled before each next one."""


def _link_lost_by(exc: BaseException) -> TransportError | None:
    """Return the link failure behind an exposure's failure, or None."""
    for error in (exc, exc.__cause__):
        if isinstance(error, TransportError):
            return error
    return None


def _native_size(detector: Detector) -> tuple[int, int]:
    info = detector.info
    if not (info.sensor_width_px and info.sensor_height_px):
        raise IncompatibleState(f"{info.model} {info.serial} does not report its sensor size")
    return info.sensor_width_px, info.sensor_height_px


class Room:
    """The generator, detector and calibration of one radiography room.

    Parameters
    ----------
    config : Config
        The shared configuration (``[detector]``, ``[calibration]``, ``[dicom]``).
    station : StationConfig
        ``[station]``: generator, trigger mode, quick calibration, upkeep intervals.
    spool_dir : pathlib.Path
        Where the workflow writes the DX files (previews beside it, in ``../preview``).
    on_change : callable
        Called with every :class:`StateChange` of the workflow (from its thread).
    clock : Clock, optional
        The time calibration validity is judged at (tests inject one).
    on_event : callable, optional
        ``on_event(kind, **data)`` for ``detector`` (link lost, back), ``generator`` (falls
        silent, its port breaks or another generator answers on it: ``FAULT``; answers
        again or its port is reopened: ``IDLE``) and ``calibration`` (a fresh dark) events.
    outbox : Outbox, optional
        Where the workflow queues each image itself (``auto_accept``); without one the
        image is written to ``spool_dir`` for review.
    startup : StartupPhases, optional
        Where the phases of :meth:`open` are recorded.
    on_stage : callable, optional
        ``on_stage(stage, seconds)`` after each stage of an image (the workflow's
        :meth:`~panelgate.acquisition.workflow.ExposureWorkflow.subscribe_stages`).
    """

    def __init__(
        self,
        config: Config,
        station: StationConfig,
        spool_dir: Path,
        on_change: Callable[[StateChange], None],
        *,
        clock: Clock = utc_now,
        on_event: OnEvent | None = None,
        outbox: Outbox | None = None,
        startup: StartupPhases | None = None,
        on_stage: Callable[[str, float], None] | None = None,
    ) -> None:
        self.config = config
        self._on_stage = on_stage
        self.startup = startup or StartupPhases()
        self.station = station
        self.spool_dir = Path(spool_dir)
        self.trigger = TriggerMode(station.trigger)
        self.url = panel_url(config.detector.url, station)
        self.clock = clock
        self.outbox = outbox
        self._on_change = on_change
        self._on_event: OnEvent = on_event or (lambda kind, **data: None)
        self._stack = ExitStack()
        self._open_lock = threading.Lock()  # opening the devices
        self._lock = threading.Lock()  # one request at a time on the device links
        self.generator: Generator | None = None
        self.switch: HandSwitch | None = None
        """The two-stage hand switch between the workflow and the generator."""
        self.generator_where = ""
        self.pipeline: Pipeline | None = None
        self.workflow: ExposureWorkflow | None = None
        self.holder: CalibrationHolder | None = None
        self.calibration_source = ""
        self.not_ready = "not opened yet"
        """Why the devices are not open (empty once they are)."""
        self.calibration_problem = ""
        self.link_lost = ""
        """Why the detector link is down (empty while it is up)."""
        self._generator_link: GeneratorLink | None = None
        self.last_failure = ""
        self._identity = ""
        self._simulated = False
        self._serial = ""
        self._mode: ReadoutMode | None = None
        self._busy = False
        self._attempts = 0
        self._next_attempt_mono_s = 0.0
        self._detector: RoomStatus = {"connected": False}
        self._calibration: RoomStatus | None = None
        self._blocked = ""

    # -- life cycle ---------------------------------------------------------------------
    def open(self) -> None:
        """Open generator and detector, then obtain the calibration; idempotent.

        A calibration that cannot be obtained is kept in :attr:`calibration_problem`
        (the devices stay open; it is tried again before the next exposure).

        Raises
        ------
        PanelgateError
            A device cannot be opened; :attr:`not_ready` keeps the reason.
        """
        with self._open_lock, self._lock:
            if self.pipeline is not None:
                return
            # The likely stored set is read while the devices open (not ready until the
            # set is chosen for the connected panel and the kernels are loaded).
            ahead = calibration_state.read_ahead(
                self.config, self.station, self.clock, self.startup
            )
            try:
                self._open_devices()
            except PanelgateError as exc:
                if ahead is not None:
                    ahead.forget_ahead()
                self._close_devices()
                self.not_ready = str(exc)
                raise
            self.not_ready = ""
            with self.startup.phase("kernels loaded"):
                warm_up()
            with self.startup.phase("calibration chosen"):
                self._calibrate(ahead)
            with self.startup.phase("detector status"):
                self._look_at_devices()

    def close(self) -> None:
        """Close detector and generator."""
        with self._open_lock, self._lock:
            self._close_devices()
            self.not_ready = "closed"

    def _open_devices(self) -> None:
        with self.startup.phase("generator"):
            generator, where = open_generator(self.station, self.url, self._stack)
            self.generator, self.generator_where = generator, where
            self.switch = HandSwitch(generator)
            self._identity = generator.identify()
            self._generator_link = GeneratorLink(
                generator, self._identity, where,
                max_wait_s=self.station.reconnect_max_wait_s, on_event=self._on_event,
            )  # fmt: skip
        with self.startup.phase("detector connected"):
            self._open_detector()

    def _open_detector(self) -> None:
        detector = open_detector(self.url)
        self._stack.enter_context(detector)
        self._simulated = isinstance(detector, Irradiable)
        beam = detector.irradiate if isinstance(detector, Irradiable) else None
        pipeline = Pipeline(detector, self.config, beam=beam)
        try:
            self._mode = detector.mode
        except IncompatibleState:
            self._mode = pipeline.configure(*_native_size(detector))
        self._serial = detector.info.serial
        self.pipeline = pipeline
        _log.info("room open: detector %s, generator %s on %s", detector.info, self._identity,
                  self.generator_where)  # fmt: skip

    def _close_devices(self) -> None:
        self.workflow = self.pipeline = self.generator = self.holder = self.switch = None
        self._generator_link = None
        self._detector = {"connected": False}
        self._calibration = None
        self._stack.close()
        self._stack = ExitStack()

    def _calibrate(self, ahead: PrefetchedStore | None = None, *, stored: bool = False) -> bool:
        """Obtain the calibration and make the workflow; False (reason kept) when none.

        ``stored``: the newest valid stored set even when ``quick_calibration`` is set
        (after a recalibration from the console).
        """
        assert self.pipeline is not None and self.switch is not None
        station = dataclasses.replace(self.station, quick_calibration=False) if stored else None
        try:
            holder, source = calibration_state.obtain(
                self.config, station or self.station, self.pipeline,
                simulated=self._simulated, clock=self.clock, report=self._report_dark,
                ahead=ahead,
            )  # fmt: skip
        except PanelgateError as exc:
            self.calibration_problem = str(exc)
            _log.warning("no calibration: %s", exc)
            return False
        self.holder, self.calibration_source, self.calibration_problem = holder, source, ""
        workflow = ExposureWorkflow(
            self.pipeline,
            self.switch,
            holder,
            self.spool_dir,
            trigger=self.trigger,
            timeouts=WorkflowTimeouts(readout_s=self.config.detector.frame_timeout_s),
            take_dark=lambda: self._fresh_dark("before the exposure"),
            outbox=self.outbox,
        )
        workflow.subscribe(self._on_change)
        if self._on_stage is not None:
            workflow.subscribe_stages(self._on_stage)
        self.workflow = workflow
        _log.info("calibration: set %s (%s)", holder.calibration.set_id, source)
        return True

    @property
    def generator_fault(self) -> str:
        """Why the generator cannot be used (silent, faulty, its port reopening); empty: fine."""
        link = self._generator_link
        return link.fault if link is not None else ""

    # -- what the station asks ----------------------------------------------------------
    def why_not_ready(self) -> str:
        """Why no exposure can start now (devices, link, generator, calibration); empty: ready."""
        if self.pipeline is None:
            return self.not_ready
        if self.link_lost:
            return f"the detector is disconnected ({self.link_lost}): reconnecting"
        if self.generator_fault:
            link = self._generator_link
            if link is not None and link.reconnecting:
                return f"the generator does not answer ({self.generator_fault}): reopening its port"
            return f"the generator does not answer: {self.generator_fault}"
        if self.workflow is None:
            return f"no calibration: {self.calibration_problem}"
        return self._blocked

    def check(self, request: ExposureRequest) -> None:
        """Check a request as the exposure will (technique range, DX header); nothing moves.

        Raises
        ------
        TechniqueOutOfRange, UsageError, DicomBuildError
            The request cannot be exposed as it is.
        IncompatibleState
            The devices are not open, or an exposure is in progress.
        """
        pipeline, generator = self._require_devices()
        with self._lock:
            if self._busy:
                raise IncompatibleState("an exposure is in progress")
            request.check(generator.limits(), generator.settings()["ma"])
        holder = self.holder
        check_header(pipeline, request, holder.calibration if holder is not None else None)

    def image_bytes(self) -> int:
        """Return an upper bound of the size of one image (for the outbox's disk reserve)."""
        if self._mode is None:
            raise IncompatibleState(f"the room is not ready: {self.why_not_ready()}")
        return instance_bytes(self._mode.width, self._mode.height)

    def set_technique(self, kv: float, mas: float, ma: float | None = None) -> None:
        """Set the technique on the generator now (a protocol was chosen).

        Raises
        ------
        IncompatibleState
            The devices are not open, or an exposure is in progress.
        TechniqueOutOfRange
            A value outside the generator's range (nothing changed).
        """
        _, generator = self._require_devices()
        with self._lock:
            if self._busy:
                raise IncompatibleState("an exposure is in progress")
            generator.set_technique(kv, mas, ma)

    def expose(
        self,
        request: ExposureRequest,
        *,
        target_ei: float | None = None,
        hold_s: float | None = None,
    ) -> ExposureResult:
        """Run one exposure (see :meth:`ExposureWorkflow.run` for what it raises).

        Parameters
        ----------
        request : ExposureRequest
            Patient, protocol and technique.
        target_ei : float, optional
            Target exposure index EI_T of the image (IEC 62494-1); ``[dicom]``'s when None.
        hold_s : float, optional
            Hold the exposure at READY until the hand switch's second stage is pressed
            (:attr:`switch`), at most this long; None fires at once.

        Raises
        ------
        IncompatibleState
            Not ready: devices, detector link, generator, no calibration or an expired
            one (the reason names the command that fixes it); nothing moved.
        """
        self._require_devices()
        with self._lock:
            if self._busy:
                raise IncompatibleState("an exposure is in progress")
            workflow = self._require_workflow()
            assert self.generator is not None and self.switch is not None
            request.check(self.generator.limits(), self.generator.settings()["ma"])
            dicom = self.config.dicom
            ei_t = dicom.target_exposure_index if target_ei is None else target_ei
            workflow.pipeline.config = dataclasses.replace(
                self.config, dicom=dataclasses.replace(dicom, target_exposure_index=ei_t)
            )
            if hold_s is not None:
                self.switch.hold(hold_s)
            self._busy = True
        try:
            return workflow.run(request)
        except PanelgateError as exc:
            self.last_failure = str(exc)
            lost = _link_lost_by(exc)
            if lost is not None:
                self._lose_link(str(lost))
            broken, link = broken_port_of(exc), self._generator_link
            if broken is not None and link is not None:
                with self._lock:
                    link.port_broken(str(broken))
            raise
        finally:
            with self._lock:
                self._busy = False
                if not self.link_lost:
                    self._look_at_devices()

    @contextmanager
    def held_for_calibration(self) -> Iterator[tuple[Pipeline, Generator]]:
        """Hold panel and generator for a calibration run (no exposure, no upkeep meanwhile).

        Afterwards the newest valid stored set is applied (the one the run stored).

        Raises
        ------
        IncompatibleState
            The devices are not open, or an exposure is in progress.
        """
        pipeline, generator = self._require_devices()
        with self._lock:
            if self._busy:
                raise IncompatibleState("an exposure is in progress")
            self._busy = True
        try:
            yield pipeline, generator
        finally:
            with self._lock:
                self._busy = False
                self._calibrate(stored=True)
                self._look_at_devices()

    def abort(self) -> bool:
        """Abort the exposure in progress; return False when none was."""
        workflow, switch = self.workflow, self.switch
        if workflow is None or not self._busy:
            return False
        workflow.abort()
        if switch is not None:
            switch.release()
        return True

    @property
    def busy(self) -> bool:
        """True while an exposure runs."""
        return self._busy

    def status(self) -> RoomStatus:
        """Detector, generator and calibration as they are (or were last seen, when busy)."""
        if self._lock.acquire(blocking=False):
            try:
                if not self._busy and self.pipeline is not None and not self.link_lost:
                    self._look_at_devices()
            finally:
                self._lock.release()
        detector = dict(self._detector)
        if self.pipeline is None:
            detector.update(connected=False, reason=self.not_ready)
        elif self.link_lost:
            detector.update(
                connected=False, state="disconnected", reason=self.link_lost,
                reconnect_attempts=self._attempts,
            )  # fmt: skip
        generator, link = self.generator, self._generator_link
        return {
            "detector": detector,
            "generator": {
                "identity": self._identity,
                "where": self.generator_where,
                "answering": generator is not None and not self.generator_fault,
                "fault": self.generator_fault,
                "reconnecting": link is not None and link.reconnecting,
                "reconnect_attempts": link.attempts if link is not None else 0,
            },
            "calibration": self._calibration
            if self.holder is not None
            else {"set_id": None, "blocked": self.calibration_problem},
        }

    # -- upkeep -------------------------------------------------------------------------
    def serve(self, stop: threading.Event) -> None:
        """Run :meth:`upkeep` every ``idle_check_s`` until ``stop`` is set (a thread's target)."""
        while not stop.wait(self.station.idle_check_s):
            try:
                self.upkeep()
            except Exception:  # the upkeep must outlive any one failure
                _log.exception("room upkeep failed; again in %g s", self.station.idle_check_s)

    def upkeep(self) -> None:
        """Look after the idle devices once (see the module docstring); never while exposing."""
        if self.pipeline is None:
            try:
                self.open()
            except PanelgateError as exc:
                _log.info("the room is still not ready: %s", exc)
            return
        if not self._lock.acquire(blocking=False):
            return  # an exposure, a status or an open holds the links
        try:
            if self._busy:
                return
            if self.link_lost:
                self._try_reconnect()
                return
            if self._generator_link is not None:
                self._generator_link.probe()
            if self._look_at_devices() and self.holder is not None and self.holder.is_stale():
                self._fresh_dark("while idle")
                self._look_at_devices()
        except TransportError as exc:
            self._lose_link(str(exc))
        except PanelgateError as exc:  # a fresh dark that failed: tried again next time
            _log.warning("room upkeep: %s", exc)
        finally:
            self._lock.release()

    # -- internals (with self._lock held) -----------------------------------------------
    def _require_devices(self) -> tuple[Pipeline, Generator]:
        if self.pipeline is None:
            self.open()
        pipeline, generator = self.pipeline, self.generator
        if pipeline is None or generator is None:
            raise IncompatibleState(f"the room is not ready: {self.not_ready}")
        return pipeline, generator

    def _require_workflow(self) -> ExposureWorkflow:
        """Return the workflow: detector linked, generator answering, calibration valid."""
        for reason in (self.link_lost, self.generator_fault):
            if reason:
                raise IncompatibleState(f"the room is not ready: {self.why_not_ready()}")
        if self.workflow is None and not self._calibrate():
            raise IncompatibleState(f"no calibration: {self.calibration_problem}")
        self._look_at_devices()
        if self._blocked and self.calibration_source != calibration_state.QUICK:
            self._calibrate()  # a newer valid set may have been stored since
            self._look_at_devices()
        if self._blocked:
            raise IncompatibleState(self._blocked)
        assert self.workflow is not None
        return self.workflow

    def _look_at_devices(self) -> bool:
        """Read the detector's status and judge the calibration; False when the link is lost."""
        pipeline = self.pipeline
        if pipeline is None:
            return False
        detector = pipeline.detector
        try:
            status = detector.status()
            info = detector.info
        except TransportError as exc:
            self._lose_link(str(exc))
            return False
        mode = status.mode
        self._detector = {
            "connected": True,
            "state": status.state.value,
            "serial": info.serial,
            "model": info.model,
            "url": self.url,
            "mode": None
            if mode is None
            else {"width": mode.width, "height": mode.height, "exposure_s": mode.exposure_s},
            "temp_c": status.temp_c,
            "simulated": self._simulated,
        }
        holder = self.holder
        if holder is not None:
            validity = holder.validity()
            fix = calibration_state.fix_command(self.config, pipeline)
            source = self.calibration_source
            self._calibration = calibration_state.describe(holder, validity, source, fix)
            self._blocked = self._calibration["blocked"]
        return True

    def _fresh_dark(self, when: str) -> None:
        holder, pipeline = self.holder, self.pipeline
        assert holder is not None and pipeline is not None
        old = holder.calibration.set_id
        holder.refresh_dark(pipeline)
        self._on_event("calibration", fresh_dark=when, set_id=holder.calibration.set_id,
                       derived_from=old)  # fmt: skip

    def _report_dark(self, line: str) -> None:
        _log.info("%s", line)

    def _lose_link(self, reason: str) -> None:
        if not self.link_lost:
            _log.warning("detector link lost: %s; reconnecting in the background", reason)
            self._on_event("detector", connected=False, reason=reason)
            self._attempts = 0
            self._next_attempt_mono_s = time.monotonic() + _FIRST_WAIT_S
        self.link_lost = reason

    def _try_reconnect(self) -> None:
        """One reconnection attempt when its backoff wait is over."""
        pipeline, mode = self.pipeline, self._mode
        assert pipeline is not None and mode is not None
        if time.monotonic() < self._next_attempt_mono_s:
            return
        n = self._attempts
        policy = ReconnectPolicy(
            attempts=n + 1, first_wait_s=_FIRST_WAIT_S, max_wait_s=self.station.reconnect_max_wait_s
        )
        try:
            reconnect(
                pipeline.detector, self._serial, lambda d: d.configure(mode), policy,
                first_attempt=n, sleep=lambda _s: None,
            )  # fmt: skip
        except PanelgateError as exc:
            self._attempts = n + 1
            self._next_attempt_mono_s = time.monotonic() + policy.wait_s(min(n + 1, 30))
            _log.info("reconnection attempt %d: %s", n + 1, exc)
            return
        _log.warning("detector %s reconnected after %d attempt(s)", self._serial, n + 1)
        self.link_lost = ""
        self._attempts = 0
        self._look_at_devices()
        self._on_event("detector", connected=True, reason="")

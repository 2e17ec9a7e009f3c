"""The room's devices as the station uses them: detector, generator, calibration, dose.

The one place where the station touches the exposure side of panelgate, so that the
changes under way there (a stored calibration set instead of the quick calibration, a
simulated X-ray room delivering the dose, the detector's read path) are integrated here
and nowhere else. Today it does what ``panelgate expose`` does
(:mod:`panelgate.acquisition.commands.expose`):

- the generator on a serial port, or ``sim`` (a :class:`SimulatedGenerator` in the process);
- the detector from ``[detector] url`` (:func:`~panelgate.acquisition.detectors.open_detector`),
  connected and put in its native readout mode;
- a quick calibration (a few darks and floods) of a simulated panel; a real panel without
  a calibration is not ready, and the status says so;
- the dose for a simulated panel follows the workflow's EXPOSING state with the set
  technique (2.5 µGy per mAs at the panel, as ``PanelBeam`` of today's workflow does; the
  panel is triggered there in ``generator`` and ``aed`` modes, as the sync line or the dose
  sensor would);
- exposures through :class:`~panelgate.acquisition.workflow.ExposureWorkflow`, without an
  outbox: the image is written to the review folder and queued only once accepted.

While an exposure runs, :meth:`Room.status` reports what it saw last instead of asking
the devices (their links serve one request at a time).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from panelgate.acquisition.config import Config
from panelgate.acquisition.detectors import open_detector
from panelgate.acquisition.pipeline import Pipeline
from panelgate.acquisition.preflight import check_header, instance_bytes
from panelgate.acquisition.workflow import (
    CalibrationHolder,
    ExposureRequest,
    ExposureResult,
    ExposureState,
    ExposureWorkflow,
    StateChange,
    TriggerMode,
    WorkflowTimeouts,
    quick_calibration,
)
from panelgate.calibration import warm_up
from panelgate.drivers import Detector, IncompatibleState, PanelgateError
from panelgate.drivers.generator import GeneratorClient
from panelgate.simulators.generator import SimulatedGenerator

from .config import StationConfig

__all__ = ["Irradiable", "Room", "RoomStatus"]

_log = logging.getLogger(__name__)

UGY_PER_MAS = 2.5
"""Air kerma at a simulated panel per mAs, µGy (about 120 kV at 180 cm)."""

RoomStatus = dict[str, Any]
"""The ``detector``, ``generator`` and ``calibration`` parts of ``GET /api/status``."""


@runtime_checkable
class Irradiable(Protocol):
    """A simulated panel that dose can be delivered to (``SimulatedDetector``)."""

    def irradiate(self, air_kerma_ugy: float, transmission: Any = None) -> None:
        """Deliver ``air_kerma_ugy`` µGy to the next exposure."""


@runtime_checkable
class _SimulatedBehind(Protocol):
    """A real driver in front of a simulated device (``usb://sim``)."""

    simulated_device: Irradiable


def _dose_of(detector: Detector) -> Irradiable | None:
    if isinstance(detector, Irradiable):
        return detector
    if isinstance(detector, _SimulatedBehind) and isinstance(detector.simulated_device, Irradiable):
        return detector.simulated_device
    return None


def _native_size(detector: Detector) -> tuple[int, int]:
    info = detector.info
    if info.sensor_width_px and info.sensor_height_px:
        return info.sensor_width_px, info.sensor_height_px
    spec = getattr(detector, "spec", None)  # simulated panels: their PanelSpec
    if spec is not None:
        return int(spec.width), int(spec.height)
    raise IncompatibleState("cannot tell the detector's matrix size")


class Room:
    """The detector, generator and calibration of one radiography room.

    Parameters
    ----------
    config : Config
        The shared configuration (``[detector]``, ``[calibration]``, ``[dicom]``).
    station : StationConfig
        ``[station]``: generator port, trigger mode, quick-calibration frames.
    spool_dir : pathlib.Path
        Where the workflow writes the DX files (previews beside it, in ``../preview``).
    on_change : callable
        Called with every :class:`StateChange` of the workflow (from its thread).
    """

    def __init__(
        self,
        config: Config,
        station: StationConfig,
        spool_dir: Path,
        on_change: Callable[[StateChange], None],
    ) -> None:
        self.config = config
        self.station = station
        self.spool_dir = Path(spool_dir)
        self.trigger = TriggerMode(station.trigger)
        self._on_change = on_change
        self._stack = ExitStack()
        self._open_lock = threading.Lock()  # opening the devices (seconds: calibration)
        self._lock = threading.Lock()  # one request at a time on the device links
        self.workflow: ExposureWorkflow | None = None
        self.not_ready = "not opened yet"
        self._last: RoomStatus = {}
        self._last_fault = ""
        self._busy = False
        self._dose: Irradiable | None = None
        self._technique: tuple[ExposureRequest, float] | None = None
        self._dark_mono_s = 0.0
        self._generator: GeneratorClient | None = None

    # -- life cycle ---------------------------------------------------------------------
    def open(self) -> None:
        """Open generator and detector, calibrate a simulated panel; idempotent.

        Raises
        ------
        PanelgateError
            A device cannot be opened or calibrated; :attr:`not_ready` keeps the reason.
        """
        with self._open_lock:
            if self.workflow is not None:
                return
            try:
                self.workflow = self._open()
                self.not_ready = ""
            except PanelgateError as exc:
                self._generator = None
                self._stack.close()
                self._stack = ExitStack()
                self.not_ready = str(exc)
                raise

    def close(self) -> None:
        """Close detector and generator."""
        with self._open_lock, self._lock:
            self.workflow = None
            self._generator = None
            self.not_ready = "closed"
            self._stack.close()

    def _open(self) -> ExposureWorkflow:
        port = self.station.generator
        if port == "sim":
            port = self._stack.enter_context(SimulatedGenerator()).device_path
        generator = self._stack.enter_context(GeneratorClient(port))
        self._generator = generator
        identity = generator.identify()
        detector = open_detector(self.config.detector.url)
        self._dose = _dose_of(detector)
        self._stack.enter_context(detector)
        pipeline = Pipeline(detector, self.config, beam=self._irradiate)
        try:
            detector.mode  # noqa: B018 - raises when no readout mode is set
        except IncompatibleState:
            pipeline.configure(*_native_size(detector))
        if self._dose is None:
            raise IncompatibleState(
                f"no calibration for detector {detector.info.serial}: it is not simulated and "
                "stored calibration sets are not used by the station yet"
            )
        warm_up()
        frames = self.station.quick_calibration_frames
        calibration = quick_calibration(
            pipeline, frames, self.config.calibration.flood_air_kerma_ugy
        )
        holder = CalibrationHolder(calibration, self.station.max_dark_age_s, frames)
        self._dark_mono_s = time.monotonic()

        def take_dark() -> None:
            holder.refresh_dark(pipeline)
            self._dark_mono_s = time.monotonic()

        workflow = ExposureWorkflow(
            pipeline,
            generator,
            holder,
            self.spool_dir,
            trigger=self.trigger,
            timeouts=WorkflowTimeouts(readout_s=self.config.detector.frame_timeout_s),
            take_dark=take_dark,
        )
        workflow.subscribe(self._changed)
        _log.info("room open: detector %s, generator %s on %s", detector.info, identity, port)
        self._last = self._snapshot(workflow, identity)
        return workflow

    # -- what the station asks ----------------------------------------------------------
    def require(self) -> ExposureWorkflow:
        """Return the workflow, opening the devices first when needed.

        Raises
        ------
        PanelgateError
            The room cannot be opened (the reason is also kept in :attr:`not_ready`).
        """
        if self.workflow is None:
            self.open()
        assert self.workflow is not None
        return self.workflow

    def check(self, request: ExposureRequest) -> None:
        """Check a request as the exposure will (technique range, DX header); nothing moves.

        Raises
        ------
        TechniqueOutOfRange, UsageError, DicomBuildError
            The request cannot be exposed as it is.
        """
        workflow = self.require()
        with self._lock:
            if self._busy:
                raise IncompatibleState("an exposure is in progress")
            request.check(self._client().limits(), self._client().settings()["ma"])
        check_header(workflow.pipeline, request, workflow.calibration.calibration)

    def image_bytes(self) -> int:
        """Return an upper bound of the size of one image (for the outbox's disk reserve)."""
        mode = self.require().detector.mode
        return instance_bytes(mode.width, mode.height)

    def expose(self, request: ExposureRequest) -> ExposureResult:
        """Run one exposure (see :meth:`ExposureWorkflow.run` for what it raises)."""
        workflow = self.require()
        with self._lock:
            if self._busy:
                raise IncompatibleState("an exposure is in progress")
            ms = request.check(self._client().limits(), self._client().settings()["ma"])
            self._technique = (request, ms)
            self._busy = True
        try:
            return workflow.run(request)
        except PanelgateError as exc:
            self._last_fault = str(exc)
            raise
        finally:
            with self._lock:
                self._busy = False
                self._technique = None
                try:
                    self._last = self._snapshot(workflow, self._last["generator"]["identity"])
                except PanelgateError as exc:
                    _log.warning("room status after the exposure: %s", exc)

    def abort(self) -> bool:
        """Abort the exposure in progress; return False when none was."""
        workflow = self.workflow
        if workflow is None or not self._busy:
            return False
        workflow.abort()
        return True

    def status(self) -> RoomStatus:
        """Detector, generator and calibration as they are (or were last seen, when busy)."""
        workflow = self.workflow
        if workflow is None:
            return {
                "detector": {"connected": False},
                "generator": {"state": "unknown", "fault": self._last_fault},
                "calibration": None,
            }
        with self._lock:
            if not self._busy:
                try:
                    self._last = self._snapshot(workflow, self._last["generator"]["identity"])
                except PanelgateError as exc:
                    self._last["generator"]["fault"] = str(exc)
            return self._last

    @property
    def busy(self) -> bool:
        """True while an exposure runs."""
        return self._busy

    # -- internals ----------------------------------------------------------------------
    def _client(self) -> GeneratorClient:
        if self._generator is None:
            raise IncompatibleState("the generator is not open")
        return self._generator

    def _snapshot(self, workflow: ExposureWorkflow, identity: str) -> RoomStatus:
        detector = workflow.detector
        status = detector.status()
        mode = status.mode
        calibration = workflow.calibration
        return {
            "detector": {
                "connected": status.state.value != "disconnected",
                "state": status.state.value,
                "serial": detector.info.serial,
                "model": detector.info.model,
                "mode": None
                if mode is None
                else {"width": mode.width, "height": mode.height, "exposure_s": mode.exposure_s},
                "temp_c": status.temp_c,
                "simulated": self._dose is not None,
            },
            "generator": {
                "state": self._client().state(),
                "identity": identity,
                "port": self._client().port,
                "fault": self._last_fault,
            },
            "calibration": {
                "set_id": calibration.calibration.set_id,
                "created_utc": calibration.calibration.created_utc.isoformat(),
                "dark_age_s": round(time.monotonic() - self._dark_mono_s, 3),
                "source": "quick calibration (simulated panel)",
            },
        }

    def _irradiate(self, air_kerma_ugy: float, transmission: Any) -> None:
        if self._dose is not None:
            self._dose.irradiate(air_kerma_ugy, transmission)

    def _changed(self, change: StateChange) -> None:
        workflow = self.workflow
        if change.new is ExposureState.EXPOSING and self._technique and workflow is not None:
            request, _ = self._technique
            self._irradiate(request.mas * UGY_PER_MAS, None)
            if self.trigger is not TriggerMode.SOFTWARE:  # the sync line / the dose sensor
                workflow.detector.trigger()
        self._on_change(change)

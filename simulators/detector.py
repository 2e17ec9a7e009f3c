"""A simulated panel behind the :class:`~panelgate.drivers.Detector` contract, URL ``sim://``.

The detector runs in-process. Its dose comes from the X-ray room it stands in
(``room=DIR``: the beam of a simulated generator on the same room,
:mod:`panelgate.simulators.room`) or by hand (:meth:`SimulatedDetector.irradiate`, the
simulator's calibration source); a readout thread integrates what arrives in the
integration window its trigger source sets (:mod:`panelgate.simulators.dose`) and hands
the frame over after the readout time. Faults can be injected to exercise the error paths
of everything above it.

Trigger source (``trigger=``, set on the panel as on a real one): ``software`` — armed,
the panel integrates; ``trigger()`` ends the window after the mode's ``exposure_s``;
``generator`` — the generator's sync (the room's beam-on) starts a window of
``exposure_s``; ``aed`` — the panel detects the beam by its dose rate and reads out when
it ends. With ``generator`` and ``aed``, ``trigger()`` (called right after ``arm()``)
hands the start of the readout to that source; no beam, no frame: ``read_frame`` times
out. The trigger source is reported (:class:`~panelgate.drivers.ReportsTriggerSource`):
the exposure workflow refuses a trigger mode that is not the panel's, instead of reading a
dark image. The panel temperature ``temp_c`` (settable, reported in every frame) drives the
offset drift of the :class:`PanelModel`.
"""

from __future__ import annotations

import enum
import queue
import threading
import time
import urllib.parse

import numpy as np
import numpy.typing as npt

from panelgate.drivers import (
    Detector,
    DetectorInfo,
    DetectorState,
    DetectorTimeout,
    Frame,
    FrameMeta,
    IncompatibleState,
    InvalidSetting,
    ReadoutMode,
    TriggerSource,
)
from panelgate.drivers.cancel import CANCEL_POLL_S, ReadCancel

from .dose import DoseIntake, Phantom, placed_phantom, room_at, trigger_source
from .panel import PanelModel, PanelSpec
from .room import Room

__all__ = ["Fault", "SimulatedDetector"]


class Fault(enum.Enum):
    """Faults the simulated detector can be told to show on the next exposure."""

    NONE = "none"
    NO_FRAME = "no-frame"  #: the readout never completes: read_frame times out


class SimulatedDetector(Detector):
    """A detector whose frames come from a :class:`PanelModel`.

    Parameters
    ----------
    spec : PanelSpec
        Panel physics and identity.
    seed : int
        Seed of the panel's fixed pattern and noise.
    readout_s : float
        Simulated readout time after the integration window, in seconds.
    temp_c : float
        Panel temperature it reports, in degrees Celsius; the offset drifts with it.
    trigger : TriggerSource
        What starts the integration (see the module docstring).
    room : Room, optional
        The X-ray room the panel stands in; without one only :meth:`irradiate` reaches it.
    phantom : numpy.ndarray or PlacedPhantom, optional
        What stands in the room's beam: a transmission map (0..1, the panel's shape) or a
        placement rendered at each pulse's kV (:mod:`panelgate.simulators.phantoms`).
    """

    def __init__(
        self,
        spec: PanelSpec | None = None,
        seed: int = 0,
        readout_s: float = 0.0,
        temp_c: float = 31.5,
        *,
        trigger: TriggerSource = TriggerSource.SOFTWARE,
        room: Room | None = None,
        phantom: Phantom | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec or PanelSpec()
        self.model = PanelModel(self.spec, seed)
        self.readout_s = readout_s
        self.temp_c = temp_c
        self.trigger_source = trigger
        self.intake = DoseIntake(room, phantom, panel=self._geometry())
        self.fault = Fault.NONE
        self._armed_mono_s = 0.0
        self._frames: queue.Queue[Frame] = queue.Queue(maxsize=1)
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self._frame_id = 0

    @classmethod
    def from_url(cls, url: str) -> SimulatedDetector:
        """Build a simulated detector from ``sim://[?key=value&...]``.

        Keys: ``width``, ``height``, ``seed``, ``serial``, ``bits`` (14 or 16), ``temp``
        (panel temperature in °C), ``readout`` (readout time in s), ``room`` (the room's
        directory), ``trigger`` (software, generator or aed), ``aed`` (1: the same as
        ``trigger=aed``); what stands in the room's beam, rendered at each pulse's kV
        (:func:`~panelgate.simulators.dose.placed_phantom`): ``phantom`` (open, wedge,
        chest, hand or edge), ``field`` (``WxH[@x,y]``: the collimated field in mm, its
        centre's offset from the panel centre), ``grid`` (on, off or lines per cm) and
        ``marker`` (L or R); ``mtf_sigma`` (the scintillator's light spread, σ in pixels,
        0 to 3: :attr:`PanelSpec.mtf_sigma_px`, 0 by default).

        Raises
        ------
        InvalidSetting
            The URL is not ``sim://`` or names an unknown or malformed parameter.
        """
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "sim" or parts.netloc or parts.path not in ("", "/"):
            raise InvalidSetting(f"not a simulator URL (expected sim://?key=value...): {url!r}")
        params = urllib.parse.parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
        known: dict[str, type] = {
            "width": int,
            "height": int,
            "seed": int,
            "bits": int,
            "serial": str,
            "temp": float,
            "aed": int,
            "readout": float,
            "room": str,
            "trigger": str,
            "phantom": str,
            "field": str,
            "grid": str,
            "marker": str,
            "mtf_sigma": float,
        }
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise InvalidSetting(
                f"unknown simulator parameter(s) {unknown} in {url!r}; known: {sorted(known)}"
            )
        values: dict[str, int | str | float] = {}
        for key, values_list in params.items():
            try:
                values[key] = known[key](values_list[-1])
            except ValueError:
                raise InvalidSetting(
                    f"simulator parameter {key}={values_list[-1]!r} is not valid in {url!r}"
                ) from None
        spec_kwargs: dict[str, int | str | float] = {}
        for key, field in (
            ("width", "width"),
            ("height", "height"),
            ("bits", "bits_stored"),
            ("serial", "serial"),
            ("mtf_sigma", "mtf_sigma_px"),
        ):
            if key in values:
                spec_kwargs[field] = values[key]
        try:
            spec = PanelSpec(**spec_kwargs)  # type: ignore[arg-type]
        except ValueError as exc:
            raise InvalidSetting(f"{exc} (from {url!r})") from None
        readout_s = float(values.get("readout", 0.0))
        aed = int(values.get("aed", 0))
        if aed not in (0, 1) or not 0.0 <= readout_s <= 10.0:
            raise InvalidSetting(f"aed must be 0 or 1 and readout in [0, 10] s in {url!r}")
        trigger = trigger_source(str(values.get("trigger", "aed" if aed else "software")), url)
        keys: dict[str, str] = {
            k: str(values[k]) for k in ("phantom", "field", "grid", "marker") if k in values
        }
        return cls(
            spec,
            seed=int(values.get("seed", 0)),
            readout_s=readout_s,
            temp_c=float(values.get("temp", 31.5)),
            trigger=trigger,
            room=room_at(str(values["room"]), url) if "room" in values else None,
            phantom=placed_phantom(keys, spec.height, spec.width, spec.pixel_pitch_mm, url),
        )

    # -- simulator controls (no real panel has these) ------------------------------------
    def irradiate(
        self, air_kerma_ugy: float, transmission: npt.NDArray[np.float32] | None = None
    ) -> None:
        """Deliver dose now from the simulator's calibration source (not the room's tube).

        The dose counts when it falls in the integration window: after ``arm()`` of a
        ``software`` panel, and it starts the window of a ``generator`` or ``aed`` one.

        Parameters
        ----------
        air_kerma_ugy : float
            Open-beam air kerma at the detector in µGy (0: a dark, which still triggers).
        transmission : numpy.ndarray, optional
            Phantom in the beam (0..1), of the panel's shape.

        Raises
        ------
        InvalidSetting
            A negative dose.
        """
        self.intake.inject(air_kerma_ugy, transmission)

    def stand_in(self, room: Room, phantom: Phantom | None = None) -> None:
        """Put the panel in an X-ray room (before :meth:`connect`), leaving any other room.

        Parameters
        ----------
        room : Room
            The room whose generator's beam reaches the panel from now on.
        phantom : numpy.ndarray or PlacedPhantom, optional
            What stands in that beam (a transmission map 0..1 of the panel's shape, or a
            placement); by default the panel's own (``phantom=`` of its URL; open field
            when none).

        Raises
        ------
        IncompatibleState
            The panel is connected (it listens in its room while connected).
        """
        if self.status().state is not DetectorState.DISCONNECTED:
            raise IncompatibleState("stand_in() on a connected panel: close it first")
        own = self.intake.phantom if phantom is None else phantom
        self.intake = DoseIntake(room, own, panel=self._geometry())

    def _geometry(self) -> tuple[int, int, float]:
        return self.spec.height, self.spec.width, self.spec.pixel_pitch_mm

    # -- Detector hooks --------------------------------------------------------------------
    def _do_connect(self) -> DetectorInfo:
        self.intake.open()
        return self._do_info()

    def _do_info(self) -> DetectorInfo:
        return DetectorInfo(
            serial=self.spec.serial,
            model=self.spec.model,
            manufacturer="panelgate simulator",
            firmware="sim-1",
            pixel_pitch_mm=self.spec.pixel_pitch_mm,
            bits_stored=self.spec.bits_stored,
            counts_per_ugy=self.spec.counts_per_ugy,
            sensor_width_px=self.spec.width,
            sensor_height_px=self.spec.height,
        )

    def _do_close(self) -> None:
        self._stop_worker()
        self.intake.close()

    def _do_configure(self, mode: ReadoutMode) -> None:
        if (mode.width, mode.height) != (self.spec.width, self.spec.height) or mode.binning != 1:
            raise InvalidSetting(
                f"the simulator reads {self.spec.width}x{self.spec.height} unbinned; "
                f"asked for {mode.width}x{mode.height} binning {mode.binning}"
            )

    def _do_arm(self) -> None:
        self._drain()
        self._armed_mono_s = time.monotonic()
        self.intake.reset(self._armed_mono_s)

    def _do_trigger(self) -> None:
        self._cancel.clear()
        self._worker = threading.Thread(
            target=self._readout, args=(time.monotonic(),), name="sim-readout", daemon=True
        )
        self._worker.start()

    def _do_read(self, timeout_s: float, cancel: ReadCancel) -> Frame:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            cancel.check(f"read from simulated detector {self.spec.serial}")
            try:
                return self._frames.get(timeout=min(left, CANCEL_POLL_S))
            except queue.Empty:
                continue
        raise DetectorTimeout(
            f"no frame from simulated detector {self.spec.serial} within {timeout_s:g} s"
        )

    def _do_abort(self) -> None:
        self._stop_worker()

    def _do_temperature(self) -> float:
        return self.temp_c

    # -- internals ---------------------------------------------------------------------------
    def _readout(self, triggered_mono_s: float) -> None:
        mode = self.mode
        fault = self.fault
        window = self.intake.window(
            self.trigger_source,
            armed_mono_s=self._armed_mono_s,
            triggered_mono_s=triggered_mono_s,
            exposure_s=mode.exposure_s,
            cancel=self._cancel,
        )
        if window is None:
            return  # aborted before the window ended
        dose = self.intake.dose(*window)
        deadline = time.monotonic() + self.readout_s
        temp_c = self.temp_c
        pixels = (
            self.model.read(dose.air_kerma_ugy, dose.transmission, temp_c=temp_c)
            if dose
            else self.model.read(temp_c=temp_c)
        )
        if fault is Fault.NO_FRAME:
            self.fault = Fault.NONE
            return
        if self._cancel.wait(max(0.0, deadline - time.monotonic())):
            return
        self._frame_id += 1
        meta = FrameMeta(
            frame_id=self._frame_id,
            t_mono_s=time.monotonic(),
            mode=mode,
            serial=self.spec.serial,
            temp_c=temp_c,
            model=self.spec.model,
            firmware="sim-1",
        )
        self._frames.put(Frame(pixels, meta))

    def _stop_worker(self) -> None:
        self._cancel.set()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                self._frames.get_nowait()
            except queue.Empty:
                return

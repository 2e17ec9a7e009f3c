"""A simulated panel behind the :class:`~panelgate.drivers.Detector` contract, URL ``sim://``.

The detector runs in-process: a trigger starts a readout thread that integrates whatever
dose was delivered with :meth:`SimulatedDetector.irradiate` (as the generator would
during the integration window) and hands the frame over after the readout time.
Faults can be injected to exercise the error paths of everything above it.

Exposure timing: after ``trigger()`` the panel integrates for the mode's ``exposure_s``
(the integration window) and then reads out for ``readout_s``. In AED mode (automatic
exposure detection, ``aed=True``) ``trigger()`` only starts watching for dose: integration
begins when :meth:`SimulatedDetector.irradiate` delivers it, as on a panel without a
generator interface; with no dose the frame never comes and ``read_frame`` times out.
The panel temperature ``temp_c`` (settable, reported in every frame) drives the offset
drift of the :class:`PanelModel`.
"""

from __future__ import annotations

import enum
import queue
import threading
import time
import urllib.parse
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from panelgate.drivers import (
    Detector,
    DetectorInfo,
    DetectorTimeout,
    Frame,
    FrameMeta,
    InvalidSetting,
    ReadoutMode,
)
from panelgate.drivers.cancel import CANCEL_POLL_S, ReadCancel

from .panel import PanelModel, PanelSpec

__all__ = ["Fault", "SimulatedDetector"]


class Fault(enum.Enum):
    """Faults the simulated detector can be told to show on the next exposure."""

    NONE = "none"
    NO_FRAME = "no-frame"  #: the readout never completes: read_frame times out


@dataclass
class _Dose:
    air_kerma_ugy: float
    transmission: npt.NDArray[np.float32] | None


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
    aed : bool
        Automatic exposure detection: integrate when dose arrives, not at the trigger.
    """

    def __init__(
        self,
        spec: PanelSpec | None = None,
        seed: int = 0,
        readout_s: float = 0.0,
        temp_c: float = 31.5,
        aed: bool = False,
    ) -> None:
        super().__init__()
        self.spec = spec or PanelSpec()
        self.model = PanelModel(self.spec, seed)
        self.readout_s = readout_s
        self.temp_c = temp_c
        self.aed = aed
        self.fault = Fault.NONE
        self._dose_arrived = threading.Event()
        self._pending: _Dose | None = None
        self._frames: queue.Queue[Frame] = queue.Queue(maxsize=1)
        self._cancel = threading.Event()
        self._worker: threading.Thread | None = None
        self._frame_id = 0

    @classmethod
    def from_url(cls, url: str) -> SimulatedDetector:
        """Build a simulated detector from ``sim://[?key=value&...]``.

        Keys: ``width``, ``height``, ``seed``, ``serial``, ``bits`` (14 or 16), ``temp``
        (panel temperature in °C), ``aed`` (0 or 1), ``readout`` (readout time in s).

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
        return cls(
            spec,
            seed=int(values.get("seed", 0)),
            readout_s=readout_s,
            temp_c=float(values.get("temp", 31.5)),
            aed=bool(aed),
        )

    # -- simulator controls (no real panel has these) ------------------------------------
    def irradiate(
        self, air_kerma_ugy: float, transmission: npt.NDArray[np.float32] | None = None
    ) -> None:
        """Deliver dose to the next exposure, as the X-ray generator would.

        Parameters
        ----------
        air_kerma_ugy : float
            Open-beam air kerma at the detector in µGy.
        transmission : numpy.ndarray, optional
            Phantom in the beam (0..1), of the panel's shape.
        """
        if air_kerma_ugy < 0:
            raise InvalidSetting(f"air_kerma_ugy must be >= 0, got {air_kerma_ugy}")
        self._pending = _Dose(air_kerma_ugy, transmission)
        self._dose_arrived.set()

    # -- Detector hooks --------------------------------------------------------------------
    def _do_connect(self) -> DetectorInfo:
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

    def _do_configure(self, mode: ReadoutMode) -> None:
        if (mode.width, mode.height) != (self.spec.width, self.spec.height) or mode.binning != 1:
            raise InvalidSetting(
                f"the simulator reads {self.spec.width}x{self.spec.height} unbinned; "
                f"asked for {mode.width}x{mode.height} binning {mode.binning}"
            )

    def _do_arm(self) -> None:
        self._drain()
        if self.aed:
            self._pending = None
            self._dose_arrived.clear()

    def _do_trigger(self) -> None:
        self._cancel.clear()
        if self.aed:
            dose = None  # taken when it arrives
        else:
            dose, self._pending = self._pending, None
        self._worker = threading.Thread(
            target=self._readout, args=(dose,), name="sim-readout", daemon=True
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
        self._pending = None
        self._stop_worker()

    def _do_temperature(self) -> float:
        return self.temp_c

    # -- internals ---------------------------------------------------------------------------
    def _readout(self, dose: _Dose | None) -> None:
        mode = self.mode
        fault = self.fault
        if self.aed:
            # AED: integration starts when dose is detected; nothing arrives without it.
            while not self._dose_arrived.wait(0.05):
                if self._cancel.is_set():
                    return
            dose, self._pending = self._pending, None
        deadline = time.monotonic() + mode.exposure_s + self.readout_s
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

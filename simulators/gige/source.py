"""Image data for the simulated GigE panel: every frame a fresh readout of the panel model.

The frames come from :class:`~panelgate.simulators.panel.PanelModel`, the physics model of
``sim://`` and ``usb://sim``: fresh quantum and read noise in every frame, the offset's
drift with the panel temperature the device reports, lag of the previous frame's signal,
defects, and the dose its X-ray room delivered. Reading a 3072² frame costs about a quarter
of a second, so a producer thread computes the frames that need no beam (darks; without a
room, the step wedge at ``air_kerma_ugy`` alternating with darks) ahead of the stream, at
most ``frames_ahead`` of them (a bounded queue; the producer waits when it is full).

In an X-ray room (``intake``, :mod:`panelgate.simulators.dose`) a frame whose integration
saw the room's beam is read from the model when it is sent, with that dose through what
stands in the beam: the integration of a frame runs from the previous frame (or the start
of the stream) to the moment it is sent, so the frame triggered after an exposure carries
it. The frames computed ahead before that moment are dropped (their lag would be the old
one); the next dark is read after the exposure and carries its lag.

ROI, binning and Mono14 (values shifted right by 2) are applied to each frame as it is sent.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from panelgate.simulators.dose import DoseIntake
from panelgate.simulators.panel import PanelModel, PanelSpec
from panelgate.simulators.phantom import step_wedge_line_pairs

__all__ = ["FrameSource", "Geometry"]

_U16 = npt.NDArray[np.uint16]
_WAIT_S = 0.05
"""Longest single wait of the producer, so that a stop or a dropped queue is noticed."""
_FIRST_FRAME_S = 10.0
"""Longest wait of a starting stream for the producer's first frame."""


@dataclass(frozen=True)
class Geometry:
    """What the host asked for: ROI in binned pixels, binning and bits per pixel."""

    width: int
    height: int
    offset_x: int = 0
    offset_y: int = 0
    binning_x: int = 1
    binning_y: int = 1
    bits: int = 16

    @property
    def payload_bytes(self) -> int:
        """Image bytes per frame (2 bytes per pixel)."""
        return self.width * self.height * 2


class FrameSource:
    """Frames as bytes for a given geometry, each one a fresh readout of the panel model.

    Parameters
    ----------
    spec : PanelSpec
        The panel (its size is the sensor size).
    seed : int
        Seed of the panel model (its fixed pattern and its noise stream).
    frames_ahead : int
        Frames the producer computes ahead of the stream (1..16).
    air_kerma_ugy : float
        Dose of every other frame (the step wedge) without a room.
    intake : DoseIntake, optional
        The panel's intake of its X-ray room's beam (see the module docstring).
    temperature_c : callable, optional
        The panel temperature in °C now (the offset drifts with it); the model's reference
        temperature when not given.
    """

    def __init__(
        self,
        spec: PanelSpec,
        seed: int = 0,
        *,
        frames_ahead: int = 2,
        air_kerma_ugy: float = 5.0,
        intake: DoseIntake | None = None,
        temperature_c: Callable[[], float] | None = None,
    ) -> None:
        if not 1 <= frames_ahead <= 16:
            raise ValueError(f"frames_ahead must be 1..16, got {frames_ahead}")
        self.spec = spec
        self.intake = intake
        self._seed = seed
        self._air_kerma_ugy = 0.0 if intake is not None else air_kerma_ugy
        self._temperature_c = temperature_c
        self._model: PanelModel | None = None
        self._phantom: npt.NDArray[np.float32] | None = None
        self._model_lock = threading.Lock()  # one reader of the model at a time
        self._ahead: queue.Queue[tuple[int, _U16]] = queue.Queue(frames_ahead)
        self._generation = 0  # bumped when the frames ahead are dropped
        self._produced = 0
        self._stop = threading.Event()
        self._ready = threading.Event()  # set once a frame has been computed ahead
        self._producer: threading.Thread | None = None
        self._integrating_since = time.monotonic()
        self.frames_read = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def prepare(self, geometry: Geometry | None = None) -> None:
        """Build the panel model and start the producer, unless done already.

        The model takes about a second to build at 3072²; a device that did this on its
        first frame would send that frame late. The simulator calls this when it starts and
        the sender, with the stream's geometry, before its first frame: then it also waits
        (up to 10 s) until a frame has been computed ahead.

        Raises
        ------
        ValueError
            ``geometry`` does not fit the binned sensor.
        """
        if geometry is not None:
            self._check(geometry)
        with self._model_lock:
            if self._model is None:
                self._model = PanelModel(self.spec, self._seed)
            if not self._ready.is_set():
                # The first frame is read here, where numba compiles the readout (holding
                # the GIL for seconds): before the device answers GVCP, not while it does.
                self._ahead.put_nowait((self._generation, self._next_produced()))
                self._ready.set()
            if self._producer is None or not self._producer.is_alive():
                self._stop.clear()
                self._producer = threading.Thread(
                    target=self._produce, name="gige-sim-frames", daemon=True
                )
                self._producer.start()
        if geometry is not None:
            self._ready.wait(_FIRST_FRAME_S)  # the stream starts: its first frame is on time

    def close(self) -> None:
        """Stop the producer; a later :meth:`prepare` starts it again."""
        self._stop.set()
        producer = self._producer
        if producer is not None:
            producer.join(timeout=5.0)
        self._producer = None

    def restart(self) -> None:
        """Start a new integration now (the stream starts): earlier beams are forgotten."""
        self._integrating_since = time.monotonic()
        if self.intake is not None:
            self.intake.reset(self._integrating_since)

    # -- frames -------------------------------------------------------------------------------
    def frame(self, index: int, geometry: Geometry) -> bytes:
        """Return the next frame of the stream cut to ``geometry``, little-endian uint16 bytes.

        ``index`` is the frame's number in the stream (for the log of a test; the frames
        come in the order they were read from the model).

        Raises
        ------
        ValueError
            The ROI does not fit the binned sensor.
        """
        self._check(geometry)
        self.prepare()
        full = self._exposed()
        if full is None:
            full = self._next_ahead()
        self.frames_read += 1
        return self._cut(full, geometry)

    def _exposed(self) -> _U16 | None:
        """Read a frame now if the room's beam reached it since the previous one; else None."""
        if self.intake is None:
            return None
        t0, self._integrating_since = self._integrating_since, time.monotonic()
        dose = self.intake.dose(t0, self._integrating_since)
        self.intake.reset(self._integrating_since)
        if dose is None:
            return None
        with self._model_lock:
            self._generation += 1  # the frames computed ahead predate this exposure
            self._drain()
            return self._read(dose.air_kerma_ugy, dose.transmission)

    def _next_ahead(self) -> _U16:
        """Return the next frame computed ahead since the last exposure (waits for it)."""
        while True:
            try:
                generation, full = self._ahead.get(timeout=1.0)
            except queue.Empty:
                self.prepare()  # a producer stopped by close() starts again
                continue
            if generation == self._generation:
                return full

    def _drain(self) -> None:
        while True:
            try:
                self._ahead.get_nowait()
            except queue.Empty:
                return

    def _produce(self) -> None:
        """Read beam-free frames ahead of the stream into the bounded queue (the producer).

        The model's readout runs on one core here (numba's thread count is per thread), so
        that the sender and the host's receiver keep the others while a frame is computed.
        """
        numba.set_num_threads(1)
        while not self._stop.is_set():
            with self._model_lock:
                generation = self._generation
                full = self._next_produced()
            while not self._stop.is_set() and generation == self._generation:
                try:
                    self._ahead.put((generation, full), timeout=_WAIT_S)
                    self._ready.set()
                    break
                except queue.Full:
                    continue

    def _next_produced(self) -> _U16:
        """Read the next beam-free frame (call with the model lock held)."""
        kerma = self._air_kerma_ugy if self._produced % 2 == 0 else 0.0
        self._produced += 1
        return self._read(kerma, self._wedge() if kerma else None)

    def _read(self, air_kerma_ugy: float, transmission: npt.NDArray[np.float32] | None) -> _U16:
        """One readout of the model (call with the model lock held)."""
        if self._model is None:
            self._model = PanelModel(self.spec, self._seed)
        temp = self._temperature_c() if self._temperature_c is not None else math.nan
        return self._model.read(
            air_kerma_ugy, transmission, temp_c=None if math.isnan(temp) else temp
        )

    def _wedge(self) -> npt.NDArray[np.float32]:
        if self._phantom is None:
            s = self.spec
            self._phantom = step_wedge_line_pairs(s.height, s.width, s.pixel_pitch_mm)
        return self._phantom

    # -- geometry -----------------------------------------------------------------------------
    def _check(self, g: Geometry) -> None:
        h, w = self.spec.height, self.spec.width
        bh, bw = h // g.binning_y, w // g.binning_x
        if g.offset_x + g.width > bw or g.offset_y + g.height > bh:
            raise ValueError(
                f"ROI {g.width}x{g.height}+{g.offset_x}+{g.offset_y} exceeds the binned "
                f"sensor {bw}x{bh}"
            )

    @staticmethod
    def _cut(full: _U16, g: Geometry) -> bytes:
        h, w = full.shape
        bh, bw = h // g.binning_y, w // g.binning_x
        image = full
        if g.binning_x > 1 or g.binning_y > 1:
            cropped = full[: bh * g.binning_y, : bw * g.binning_x].astype(np.uint32)
            binned = cropped.reshape(bh, g.binning_y, bw, g.binning_x).mean(axis=(1, 3))
            image = binned.astype(np.uint16)
        roi = image[g.offset_y : g.offset_y + g.height, g.offset_x : g.offset_x + g.width]
        if g.bits == 14:
            roi = (roi >> 2).astype(np.uint16)
        return np.ascontiguousarray(roi, dtype="<u2").tobytes()

"""Image data for the simulated GigE panel: a small pool of PanelModel readouts, reused.

Reading a new 3072×3072 frame from :class:`~panelgate.simulators.panel.PanelModel` costs
about 0.3 s, far slower than the wire. The source therefore draws ``pool_size`` frames once
(an exposed step wedge / line-pair phantom, then dark frames), in :meth:`FrameSource.prepare`
or when it is first asked, and cycles through them; each frame sent still gets its own
block id and timestamp. ROI, binning and Mono14 (values shifted right by 2) are applied to
the pooled frame and cached per geometry, so steady streaming costs no image work at all.

In an X-ray room (``room``, :mod:`panelgate.simulators.room`) the pool holds dark frames
only, and a frame whose integration saw the room's beam is read fresh from the panel model
with that dose: the integration of a frame runs from the previous frame (or the start of
the stream) to the moment it is sent, so the frame triggered after an exposure carries it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from panelgate.simulators.dose import DoseIntake
from panelgate.simulators.panel import PanelModel, PanelSpec
from panelgate.simulators.phantom import step_wedge_line_pairs

__all__ = ["FrameSource", "Geometry"]


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
    """Frames as bytes for a given geometry, from a pool of simulated readouts.

    Parameters
    ----------
    spec : PanelSpec
        The panel (its size is the sensor size).
    seed : int
        Seed of the panel model.
    pool_size : int
        Number of distinct readouts cycled through (1..16).
    air_kerma_ugy : float
        Dose of the exposed frame in the pool (without a room).
    intake : DoseIntake, optional
        The panel's intake of its X-ray room's beam (see the module docstring).
    """

    def __init__(
        self,
        spec: PanelSpec,
        seed: int = 0,
        pool_size: int = 2,
        air_kerma_ugy: float = 5.0,
        intake: DoseIntake | None = None,
    ) -> None:
        if not 1 <= pool_size <= 16:
            raise ValueError(f"pool_size must be 1..16, got {pool_size}")
        self.spec = spec
        self._seed = seed
        self._pool_size = pool_size
        self._air_kerma_ugy = 0.0 if intake is not None else air_kerma_ugy
        self.intake = intake
        self._model: PanelModel | None = None
        self._integrating_since = time.monotonic()
        self._pool: list[npt.NDArray[np.uint16]] = []
        self._cache: dict[tuple[int, Geometry], bytes] = {}
        self._lock = threading.Lock()

    def frame(self, index: int, geometry: Geometry) -> bytes:
        """Return frame ``index`` (mod the pool) cut to ``geometry``, big-endian-free uint16 bytes.

        Raises
        ------
        ValueError
            The ROI does not fit the binned sensor.
        """
        with self._lock:
            self._fill_pool()
            exposed = self._exposed(geometry)
            if exposed is not None:
                return exposed
            key = (index % self._pool_size, geometry)
            data = self._cache.get(key)
            if data is None:
                if len(self._cache) > 4 * self._pool_size:
                    self._cache.clear()
                data = self._cut(self._pool[key[0]], geometry)
                self._cache[key] = data
            return data

    def restart(self) -> None:
        """Start a new integration now (the stream starts): earlier beams are forgotten."""
        with self._lock:
            self._integrating_since = time.monotonic()
            if self.intake is not None:
                self.intake.reset(self._integrating_since)

    def _exposed(self, geometry: Geometry) -> bytes | None:
        """Read a frame now if the room's beam reached it since the previous one; else None."""
        if self.intake is None:
            return None
        t0, self._integrating_since = self._integrating_since, time.monotonic()
        dose = self.intake.dose(t0, self._integrating_since)
        self.intake.reset(self._integrating_since)
        if dose is None:
            return None
        if self._model is None:
            self._model = PanelModel(self.spec, self._seed)  # the same panel as the pool
        return self._cut(self._model.read(dose.air_kerma_ugy, dose.transmission), geometry)

    def prepare(self, geometry: Geometry | None = None) -> None:
        """Draw the pool now and, given a geometry, cut every pooled frame for it.

        The panel model takes about a second per pool (longer at 3072²); a device that did
        this on its first frame would send that frame late and the next one right behind
        it. The simulator calls this when it starts and the sender before its first frame.

        Raises
        ------
        ValueError
            The ROI does not fit the binned sensor.
        """
        with self._lock:
            self._fill_pool()
        if geometry is not None:
            for index in range(self._pool_size):
                self.frame(index, geometry)

    def _fill_pool(self) -> None:
        """Draw the pool unless drawn already (call with the lock held)."""
        if self._pool:
            return
        model = PanelModel(self.spec, self._seed)
        phantom = step_wedge_line_pairs(self.spec.height, self.spec.width, self.spec.pixel_pitch_mm)
        for i in range(self._pool_size):
            kerma = self._air_kerma_ugy if i % 2 == 0 else 0.0
            self._pool.append(model.read(kerma, phantom if kerma else None))

    @staticmethod
    def _cut(full: npt.NDArray[np.uint16], g: Geometry) -> bytes:
        h, w = full.shape
        bh, bw = h // g.binning_y, w // g.binning_x
        if g.offset_x + g.width > bw or g.offset_y + g.height > bh:
            raise ValueError(
                f"ROI {g.width}x{g.height}+{g.offset_x}+{g.offset_y} exceeds the binned "
                f"sensor {bw}x{bh}"
            )
        image = full
        if g.binning_x > 1 or g.binning_y > 1:
            cropped = full[: bh * g.binning_y, : bw * g.binning_x].astype(np.uint32)
            binned = cropped.reshape(bh, g.binning_y, bw, g.binning_x).mean(axis=(1, 3))
            image = binned.astype(np.uint16)
        roi = image[g.offset_y : g.offset_y + g.height, g.offset_x : g.offset_x + g.width]
        if g.bits == 14:
            roi = (roi >> 2).astype(np.uint16)
        return np.ascontiguousarray(roi, dtype="<u2").tobytes()

"""What a simulated panel takes in of the beam: its trigger source and integration window.

Every simulated panel (``sim://``, ``usb://sim``, the GigE simulator) keeps a
:class:`DoseIntake`: the pulses of its :class:`~panelgate.simulators.room.Room` (and the
doses given by hand with ``irradiate``, a calibration source of the simulator), and the
rule of its trigger source, set on the panel (:class:`~panelgate.drivers.TriggerSource`,
the detector contract's) as on a real one:

``software``
    Armed, the panel integrates (its photodiodes collect charge from the scrub on); the
    host's trigger ends the integration after the mode's ``exposure_s``, and the panel
    reads out. Window: from ``arm`` to ``trigger + exposure_s``.
``generator``
    The generator's sync output (the room's beam-on, :attr:`BeamPulse.start_mono_s`)
    starts the integration window of ``exposure_s``; the host does not trigger.
``aed``
    Automatic exposure detection: the panel watches its own dose rate and starts
    integrating when it reaches :data:`AED_THRESHOLD_UGY_PER_S`; it reads out when the
    beam ends. A beam below the threshold is not detected and no frame comes.

The dose of a window is each pulse's air kerma pro rata of its overlap with the window
(a window shorter than the beam cuts the dose, as on a real panel). Pulses of the room
pass through the panel-side transmission (the phantom in the beam, ``phantom=`` in the
panel's URL; open field by default); doses given by hand carry their own. A dose given by
hand (even of 0 µGy: a dark) also starts the window of a ``generator`` or ``aed`` panel, as
the simulator's calibration source drives the panel's trigger input: darks and floods by
hand work in every trigger source.
"""

from __future__ import annotations

import logging
import select
import threading
import time
import urllib.parse
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from panelgate.drivers import InvalidSetting, TriggerSource

from .phantoms import PHANTOMS, REFERENCE_KV, PlacedPhantom, Placement, protocol_placement
from .room import BeamPulse, Room, RoomSocket

__all__ = [
    "AED_THRESHOLD_UGY_PER_S",
    "PHANTOMS",
    "Dose",
    "DoseIntake",
    "Irradiable",
    "Phantom",
    "TriggerSource",
    "phantom_map",
    "placed_phantom",
    "protocol_phantom",
    "room_at",
    "trigger_source",
]

_F32 = npt.NDArray[np.float32]
_log = logging.getLogger(__name__)

AED_THRESHOLD_UGY_PER_S = 5.0
"""Air kerma rate at the panel (behind the phantom, mean over the panel) that AED detects.

Panels with automatic exposure detection state a minimum detector dose rate of a few
µGy/s (vendors give 1-10 µGy/s); a radiographic beam behind a patient is hundreds.
"""

_SLICE_S = 0.02
"""Longest single wait, so that a cancel is noticed within it."""

_HAND_DOSE_S = 0.001
"""Duration of a dose given by hand (``irradiate``): a short pulse at the moment of the call."""

Phantom = _F32 | PlacedPhantom
"""What stands in a panel's beam: a fixed transmission map, or a placement rendered at each
pulse's tube voltage (:class:`~panelgate.simulators.phantoms.PlacedPhantom`)."""


@runtime_checkable
class Irradiable(Protocol):
    """A simulated panel that takes dose by hand: its built-in calibration source.

    Real panels are irradiated by the tube only; simulated ones can also be given a known
    air kerma directly, which is how demo and calibration take floods without a generator.
    """

    def irradiate(self, air_kerma_ugy: float, transmission: _F32 | None = None) -> None:
        """Deliver ``air_kerma_ugy`` µGy now (through ``transmission``, open field if None)."""
        ...


def placed_phantom(
    keys: Mapping[str, str], height: int, width: int, pixel_pitch_mm: float, url: str
) -> PlacedPhantom | None:
    """Return what a simulated panel's URL places in its beam; None: nothing (open field).

    ``keys`` holds the URL's ``phantom`` (:data:`PHANTOMS`), ``field`` (``WxH[@x,y]``, mm,
    the field centre's offset from the panel centre), ``grid`` (``on``, ``off`` or lines
    per cm) and ``marker`` (``L`` or ``R``), each optional. Every simulated panel (sim://,
    usb://sim, the GigE simulator) parses its keys with this function.

    Raises
    ------
    InvalidSetting
        An unknown phantom or marker, a malformed value, a field that does not fit.
    """
    try:
        placement = Placement.from_keys(
            keys.get("phantom", "open"), keys.get("field"), keys.get("grid"), keys.get("marker")
        )
        placed = PlacedPhantom(placement, height, width, pixel_pitch_mm)
    except ValueError as exc:
        raise InvalidSetting(f"{exc} (in {url!r})") from None
    return None if placement.is_open() else placed


def protocol_phantom(detector_url: str, protocol: str) -> AbstractContextManager[object]:
    """Hold the protocol's phantom in a simulated panel's room for one exposure.

    For ``sim://`` and ``usb://sim`` URLs that name a ``room=`` but no ``phantom=``, the
    room holds :func:`~panelgate.simulators.phantoms.protocol_placement` (a chest for
    chest protocols) while the context is open, so that ``panelgate expose`` shows the
    anatomy it was asked for; otherwise (a real panel, an explicit phantom, no room, a
    protocol without a phantom) nothing is placed.

    Raises
    ------
    InvalidSetting
        The URL's room cannot be made.
    """
    parts = urllib.parse.urlsplit(detector_url)
    if (parts.scheme, parts.netloc) not in (("sim", ""), ("usb", "sim")):
        return nullcontext()
    keys = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    placement = protocol_placement(protocol)
    if "phantom" in keys or not keys.get("room", [""])[-1] or placement is None:
        return nullcontext()
    return room_at(keys["room"][-1], detector_url).placed(placement)


def phantom_map(name: str, height: int, width: int, pixel_pitch_mm: float) -> _F32 | None:
    """Return the transmission of a named phantom at the reference beam (70 kV); None: open.

    A fixed map, whatever the technique; :func:`placed_phantom` follows the beam's kV.

    Raises
    ------
    InvalidSetting
        An unknown name.
    """
    if name not in PHANTOMS:
        raise InvalidSetting(f"unknown phantom {name!r}; known: {', '.join(PHANTOMS)}")
    if name == "open":
        return None
    return PlacedPhantom(Placement(name), height, width, pixel_pitch_mm).transmission(REFERENCE_KV)


@dataclass(frozen=True)
class Dose:
    """What one integration window collected: air kerma (µGy) and transmission map."""

    air_kerma_ugy: float
    transmission: _F32 | None


@dataclass(frozen=True)
class _Taken:
    pulse: BeamPulse
    transmission: _F32 | None
    by_hand: bool = False


class DoseIntake:
    """A panel's intake of the beam: room pulses and doses by hand, windows by trigger source.

    Parameters
    ----------
    room : Room or None
        The room the panel is in; None: only doses given by hand reach it.
    panel : tuple, optional
        The panel's height, width (pixels) and pixel pitch (mm): needed to render the
        room's placement when ``phantom`` is not a placement.
    phantom : numpy.ndarray or PlacedPhantom or None
        What stands in the room's beam before this panel (None: open field): a fixed
        transmission map, or a placement rendered at each pulse's kV. A placement the
        room holds for the exposure (:meth:`Room.place`) takes its place while it is there.
    """

    def __init__(
        self,
        room: Room | None,
        phantom: Phantom | None = None,
        *,
        panel: tuple[int, int, float] | None = None,
    ) -> None:
        self.room = room
        self.phantom = phantom
        self.panel = panel
        self._placed: PlacedPhantom | None = None
        self._socket: RoomSocket | None = None
        self._lock = threading.Lock()
        self._taken: list[_Taken] = []
        self._arrived = threading.Condition(self._lock)

    # -- lifecycle ----------------------------------------------------------------------
    def open(self) -> None:
        """Join the room (bind the panel's socket); no-op without a room or when open."""
        if self.room is not None and self._socket is None:
            self._socket = self.room.listen()

    def close(self) -> None:
        """Leave the room; safe to call more than once."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    # -- intake -------------------------------------------------------------------------
    def inject(self, air_kerma_ugy: float, transmission: _F32 | None = None) -> None:
        """Take a dose given by hand, now (a short pulse of ``air_kerma_ugy`` µGy).

        Raises
        ------
        InvalidSetting
            A negative or not finite dose.
        """
        if not (np.isfinite(air_kerma_ugy) and air_kerma_ugy >= 0):
            raise InvalidSetting(f"air_kerma_ugy must be >= 0, got {air_kerma_ugy}")
        now = time.monotonic()
        ms = _HAND_DOSE_S * 1000.0
        pulse = BeamPulse(0.0, 0.0, ms, 0.0, now, _HAND_DOSE_S, air_kerma_ugy)
        with self._arrived:
            self._taken.append(_Taken(pulse, transmission, by_hand=True))
            self._arrived.notify_all()

    def reset(self, since_mono_s: float) -> None:
        """Forget every pulse that ended before ``since_mono_s`` (the panel is armed)."""
        self._take_in()
        with self._lock:
            self._taken = [t for t in self._taken if t.pulse.end_mono_s >= since_mono_s]
        self._prepare()

    def _take_in(self) -> None:
        sock = self._socket
        if sock is None:
            return
        pulses = sock.take()
        if pulses:
            taken = [_Taken(p, self._transmission(p.kv)) for p in pulses]
            with self._arrived:
                self._taken.extend(taken)
                self._arrived.notify_all()

    def _transmission(self, kv: float) -> _F32 | None:
        """Return what a pulse at ``kv`` passes: the room's placement, else our own phantom."""
        phantom = self._in_beam()
        if isinstance(phantom, PlacedPhantom):
            try:
                return phantom.transmission(kv)
            except ValueError as exc:  # a tube voltage outside the attenuation model
                _log.warning("phantom not rendered at %g kV: %s", kv, exc)
                return None
        return phantom

    def _in_beam(self) -> Phantom | None:
        """Return what stands in the beam now: the room's placement, else our own phantom."""
        placement = self.room.placement() if self.room is not None else None
        geometry = self._geometry()
        if placement is None or geometry is None:
            return self.phantom
        placed = self._placed
        if placed is None or placed.placement != placement:
            try:
                placed = PlacedPhantom(placement, *geometry)
            except ValueError as exc:
                _log.warning("room placement ignored: %s", exc)
                placed = None
            self._placed = placed
        return placed if placed is not None else self.phantom

    def _prepare(self) -> None:
        """Build the body of what stands in the beam in a thread (armed: the beam is next).

        At 3072² a chest's body takes seconds; built while the generator prepares, the
        readout after the beam only renders the scene at the delivered kV.
        """
        phantom = self._in_beam()
        if isinstance(phantom, PlacedPhantom) and not phantom.prepared:
            threading.Thread(target=phantom.prepare, name="phantom-prepare", daemon=True).start()

    def _geometry(self) -> tuple[int, int, float] | None:
        """Return the panel's height, width and pixel pitch, where known (None otherwise)."""
        if isinstance(self.phantom, PlacedPhantom):
            return (*self.phantom.shape, self.phantom.pixel_pitch_mm)
        return self.panel

    def _wait(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for something to arrive, then take it in."""
        sock = self._socket
        if sock is not None:
            select.select([sock], [], [], timeout_s)
            self._take_in()
        else:
            with self._arrived:
                self._arrived.wait(timeout_s)

    # -- windows ------------------------------------------------------------------------
    def window(
        self,
        source: TriggerSource,
        *,
        armed_mono_s: float,
        triggered_mono_s: float,
        exposure_s: float,
        cancel: threading.Event,
    ) -> tuple[float, float] | None:
        """Return the integration window ``(t0, t1)`` of one exposure; None if cancelled first.

        Waits for what starts the window (``generator``, ``aed``) and until it ends.
        """
        if source is TriggerSource.SOFTWARE:
            t0, t1 = armed_mono_s, triggered_mono_s + exposure_s
        else:
            start = self._wait_for_start(source, armed_mono_s, cancel)
            if start is None:
                return None
            t0 = start.start_mono_s
            t1 = t0 + exposure_s if source is TriggerSource.GENERATOR else start.end_mono_s
        while (left := t1 - time.monotonic()) > 0:
            if cancel.wait(min(left, _SLICE_S)):
                return None
        return t0, t1

    def _wait_for_start(
        self, source: TriggerSource, since_mono_s: float, cancel: threading.Event
    ) -> BeamPulse | None:
        while not cancel.is_set():
            self._take_in()
            with self._lock:
                for taken in self._taken:
                    if taken.pulse.end_mono_s >= since_mono_s and self._starts(source, taken):
                        return taken.pulse
            self._wait(_SLICE_S)
        return None

    @staticmethod
    def _starts(source: TriggerSource, taken: _Taken) -> bool:
        if taken.by_hand or source is TriggerSource.GENERATOR:
            return True  # the sync line fires with every exposure; so does the hand source
        mean_t = 1.0 if taken.transmission is None else float(taken.transmission.mean())
        return taken.pulse.kerma_rate_ugy_per_s * mean_t >= AED_THRESHOLD_UGY_PER_S

    def dose(self, t0_mono_s: float, t1_mono_s: float) -> Dose | None:
        """Return the dose collected in ``[t0, t1]``; None when nothing reached the panel."""
        self._take_in()
        with self._lock:
            parts = [
                (t.pulse.kerma_within_ugy(t0_mono_s, t1_mono_s), t.transmission)
                for t in self._taken
            ]
        parts = [(k, t) for k, t in parts if k > 0]
        if not parts:
            return None
        total = sum(k for k, _ in parts)
        first = parts[0][1]
        if all(t is first for _, t in parts):
            return Dose(total, first)
        shape = next(t.shape for _, t in parts if t is not None)
        weighted = np.zeros(shape, dtype=np.float32)
        for k, t in parts:
            weighted += np.float32(k / total) * (np.float32(1.0) if t is None else t)
        return Dose(total, weighted)


def trigger_source(name: str, url: str) -> TriggerSource:
    """Return the :class:`TriggerSource` named in a simulated panel's URL.

    Raises
    ------
    InvalidSetting
        Not software, generator or aed.
    """
    try:
        return TriggerSource(name)
    except ValueError:
        known = ", ".join(t.value for t in TriggerSource)
        raise InvalidSetting(f"trigger={name!r} in {url!r}: expected one of {known}") from None


def room_at(path: str, url: str) -> Room:
    """Return the :class:`Room` named in a simulated panel's URL (``room=DIR``).

    Raises
    ------
    InvalidSetting
        An empty path, or a directory that cannot be made.
    """
    if not path:
        raise InvalidSetting(f"room= needs a directory in {url!r}")
    try:
        return Room(path)
    except OSError as exc:
        raise InvalidSetting(f"room {path!r} in {url!r}: {exc.strerror or exc}") from None

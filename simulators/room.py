"""The simulated X-ray room: how a simulated generator's beam reaches simulated panels.

A room is a directory. Every simulated panel in the room binds one Unix datagram socket
there (``<pid>-<n>.panel``); a simulated generator publishes each exposure, when the tube
fires, as one datagram sent to every such socket (:meth:`Room.publish`). The panels may
live in the generator's process or in others (``panelgate simulate gige`` inside a
loopback-only network namespace: a socket *path* is reachable across network namespaces,
and nothing is broadcast on any network). A panel on another room, or on none, gets no
dose. Datagrams are sent before the generator reports the exposure done, so a panel that
takes in what its socket holds after DONE has every exposure of its integration window.

Each exposure is a :class:`BeamPulse`: the delivered kV, mA, ms and mAs, its start on
``CLOCK_MONOTONIC`` (one clock for every process of the machine, in any network
namespace), its duration, and the open-field air kerma at the detector from the tube
output (:func:`air_kerma_ugy`).

What stands in the beam for an exposure may be set on the room
(:meth:`Room.place`: a :class:`~panelgate.simulators.phantoms.Placement` written to
``placement.json`` in its directory, atomically): every panel of the room, in any process,
renders it at the kV of each pulse it takes in while the file is there, instead of the
phantom of its own URL. :meth:`Room.placed` holds a placement for one exposure.
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import math
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from panelgate.drivers.generator.protocol import Delivered

from .phantoms import Placement

__all__ = [
    "OUTPUT_80KV_UGY_PER_MAS",
    "SID_M",
    "BeamPulse",
    "Room",
    "RoomSocket",
    "air_kerma_ugy",
]

_log = logging.getLogger(__name__)

OUTPUT_80KV_UGY_PER_MAS = 50.0
"""Tube output at 80 kV and 1 m focus distance, in µGy air kerma per mAs.

A tungsten target with 2.5 mm Al total filtration gives about 40-60 µGy/mAs at 80 kV and
1 m (IPEM Report 91, the typical outputs used in patient dose surveys); the output grows
roughly with the square of the tube voltage (:func:`air_kerma_ugy`).
"""

SID_M = 1.8
"""Default source-to-image distance in metres (a chest stand)."""

_SUFFIX = ".panel"
_PLACEMENT = "placement.json"
_counter = itertools.count(1)


def air_kerma_ugy(kv: float, mas: float, sid_m: float = SID_M) -> float:
    """Open-field air kerma at the detector for one exposure, in µGy.

    ``K = Y80 · (kV / 80)² · mAs · (1 m / SID)²``: the tube output
    :data:`OUTPUT_80KV_UGY_PER_MAS` scaled with the square of the tube voltage and the
    inverse square of the distance. 120 kV, 2 mAs at 1.8 m gives about 69 µGy.

    Raises
    ------
    ValueError
        A value that is negative, zero (kV, SID) or not finite.
    """
    if not (math.isfinite(kv) and kv > 0 and math.isfinite(sid_m) and sid_m > 0):
        raise ValueError(f"kv and sid_m must be positive, got {kv!r} kV at {sid_m!r} m")
    if not (math.isfinite(mas) and mas >= 0):
        raise ValueError(f"mas must be >= 0, got {mas!r}")
    return OUTPUT_80KV_UGY_PER_MAS * (kv / 80.0) ** 2 * mas / sid_m**2


@dataclass(frozen=True)
class BeamPulse:
    """One exposure as the tube delivered it.

    Parameters
    ----------
    kv, ma, ms, mas : float
        Delivered tube voltage (kV), current (mA), time (ms) and current-time product (mAs).
    start_mono_s : float
        When the tube fired, ``time.monotonic()`` seconds (CLOCK_MONOTONIC).
    duration_s : float
        How long the beam lasts in the simulation, in seconds (``ms`` scaled by the
        simulated generator's time scale).
    air_kerma_ugy : float
        Open-field air kerma at the detector, µGy.
    """

    kv: float
    ma: float
    ms: float
    mas: float
    start_mono_s: float
    duration_s: float
    air_kerma_ugy: float

    @property
    def end_mono_s(self) -> float:
        """When the beam stops, ``time.monotonic()`` seconds."""
        return self.start_mono_s + self.duration_s

    @property
    def kerma_rate_ugy_per_s(self) -> float:
        """Air kerma rate at the detector during the beam, µGy/s (over the nominal ``ms``)."""
        return self.air_kerma_ugy / max(self.ms / 1000.0, 1e-6)

    def kerma_within_ugy(self, t0_mono_s: float, t1_mono_s: float) -> float:
        """Air kerma delivered between two instants (a panel's integration window), µGy."""
        if self.duration_s <= 0:
            return self.air_kerma_ugy if t0_mono_s <= self.start_mono_s <= t1_mono_s else 0.0
        overlap = min(t1_mono_s, self.end_mono_s) - max(t0_mono_s, self.start_mono_s)
        return self.air_kerma_ugy * max(0.0, min(1.0, overlap / self.duration_s))

    def encode(self) -> bytes:
        """Return the datagram: UTF-8 JSON of the fields."""
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, data: bytes) -> BeamPulse:
        """Parse a datagram made by :meth:`encode`.

        Raises
        ------
        ValueError
            Not such a datagram.
        """
        try:
            fields = json.loads(data.decode())
            pulse = cls(**{k: float(fields[k]) for k in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError) as exc:  # JSON, UTF-8 and numbers too
            raise ValueError(f"not a beam pulse datagram: {exc}") from None
        if not all(math.isfinite(v) for v in asdict(pulse).values()):
            raise ValueError("beam pulse with a value that is not finite")
        return pulse


class Room:
    """An X-ray room: a directory where simulated panels listen for the beam.

    Parameters
    ----------
    path : str or pathlib.Path
        The room's directory; made (mode 0700) when missing.
    sid_m : float
        Source-to-image distance of the room, metres (for :func:`air_kerma_ugy`).
    """

    def __init__(self, path: str | os.PathLike[str], sid_m: float = SID_M) -> None:
        if not (math.isfinite(sid_m) and sid_m > 0):
            raise ValueError(f"sid_m must be positive, got {sid_m!r}")
        self.path = Path(path)
        self.sid_m = sid_m
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"Room({str(self.path)!r})"

    def pulse(self, delivered: Delivered, start_mono_s: float, duration_s: float) -> BeamPulse:
        """Make the pulse of one exposure in this room (air kerma at this room's SID)."""
        d = delivered
        kerma = air_kerma_ugy(d.kv, d.mas, self.sid_m)
        return BeamPulse(d.kv, d.ma, d.ms, d.mas, start_mono_s, duration_s, kerma)

    def publish(self, pulse: BeamPulse) -> int:
        """Send ``pulse`` to every panel of the room; return how many it reached.

        A socket whose panel is gone (connection refused) is removed; a panel whose
        socket buffer is full misses the pulse (logged).
        """
        data, reached = pulse.encode(), 0
        with _DirFd(self.path) as base, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as out:
            out.setblocking(False)
            for name in sorted(os.listdir(self.path)):
                if not name.endswith(_SUFFIX):
                    continue
                try:
                    out.sendto(data, f"{base}/{name}")
                    reached += 1
                except OSError as exc:
                    if exc.errno == errno.ECONNREFUSED:
                        _remove(self.path / name)
                    elif exc.errno != errno.ENOENT:
                        _log.warning("beam pulse not delivered to %s: %s", name, exc)
        _log.debug("beam pulse %s reached %d panel(s) in %s", pulse, reached, self.path)
        return reached

    def place(self, placement: Placement | None) -> None:
        """Set what stands in the beam from now on (None: each panel's own phantom again).

        Written atomically (a temporary file renamed over ``placement.json``), mode 0600.
        """
        target = self.path / _PLACEMENT
        if placement is None:
            _remove(target)
            return
        tmp = self.path / f".{_PLACEMENT}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(placement.to_json())
        os.replace(tmp, target)

    def placement(self) -> Placement | None:
        """Return the placement set on the room; None when none is (or it cannot be read)."""
        try:
            text = (self.path / _PLACEMENT).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            _log.warning("room placement of %s not read: %s", self.path, exc)
            return None
        try:
            return Placement.from_json(text)
        except ValueError as exc:
            _log.warning("room placement of %s ignored: %s", self.path, exc)
            return None

    @contextmanager
    def placed(self, placement: Placement) -> Iterator[Placement]:
        """Hold ``placement`` on the room for one exposure; remove it afterwards."""
        self.place(placement)
        try:
            yield placement
        finally:
            self.place(None)

    def listen(self) -> RoomSocket:
        """Bind a new panel socket in the room; close it when the panel goes."""
        return RoomSocket(self)


class RoomSocket:
    """A panel's end of the room: a bound Unix datagram socket taking in beam pulses."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self.path = room.path / f"{os.getpid()}-{next(_counter)}{_SUFFIX}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            with _DirFd(room.path) as base:
                self.sock.bind(f"{base}/{self.path.name}")
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)

    def fileno(self) -> int:
        """Return the socket's file descriptor (for ``select``)."""
        return self.sock.fileno()

    def take(self) -> list[BeamPulse]:
        """Return the pulses the socket holds now, without waiting."""
        pulses: list[BeamPulse] = []
        while True:
            try:
                data = self.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return pulses
            except OSError:
                return pulses
            try:
                pulses.append(BeamPulse.decode(data))
            except ValueError as exc:
                _log.warning("ignored a datagram in room %s: %s", self.room.path, exc)

    def close(self) -> None:
        """Close the socket and remove its file; safe to call more than once."""
        if self.sock.fileno() >= 0:
            self.sock.close()
            _remove(self.path)


class _DirFd:
    """``/proc/self/fd/<n>`` for a directory: short socket paths in a directory of any length.

    ``sockaddr_un`` holds at most 107 bytes of path; the room's directory may be longer
    (pytest's temporary folders are), so sockets are addressed through a descriptor of it.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)

    def __enter__(self) -> str:
        return f"/proc/self/fd/{self._fd}"

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        _log.debug("could not remove %s", path, exc_info=True)

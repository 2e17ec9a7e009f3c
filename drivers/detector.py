"""The detector contract every panel driver and simulator implements.

Public methods check the state and the arguments, log, and keep the state machine
honest; subclasses implement only the private ``_do_*`` hooks that touch the hardware
(the pattern of python-microscope's ``abc.py``). A radiographic exposure is::

    connect() → configure(mode) → arm() → trigger() → read_frame(timeout_s) → ... → close()

``abort()`` is allowed in any connected state and always returns the detector to IDLE.

A wait for a frame can be cancelled: the detector owns a cancel event, set by ``abort()``
and ``cancel_read()`` from any thread, and ``read_frame(timeout_s, cancel=event)`` also
watches the caller's event; either makes the waiting read raise
:class:`~panelgate.drivers.errors.ReadCancelled` within
:data:`~panelgate.drivers.cancel.CANCEL_POLL_S`, as one wait (one timeout when it runs out,
never one per slice). Many frames in a row come from ``stream()``: a thread acquires them
into a bounded queue with a stated policy and counters (see :mod:`.framestream`).

Transports with a GenICam feature map (GigE Vision) also implement :class:`FeatureAccess`:
any device feature by its name, beyond the readout mode. A panel that says what starts its
integration (its :class:`TriggerSource`: GenICam ``TriggerMode``/``TriggerSource``, a
vendor's AED switch, a simulator's ``trigger=``) implements :class:`ReportsTriggerSource`;
the exposure workflow refuses to expose when that source is not the trigger mode it runs in.
"""

from __future__ import annotations

import abc
import enum
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, runtime_checkable

from .cancel import ReadCancel
from .errors import IncompatibleState, ReadCancelled
from .frame import Frame, ReadoutMode
from .framestream import FrameStream, StreamPolicy

__all__ = [
    "Detector",
    "DetectorInfo",
    "DetectorState",
    "DetectorStatus",
    "FeatureAccess",
    "ReportsTriggerSource",
    "TriggerSource",
]

_log = logging.getLogger(__name__)


@runtime_checkable
class FeatureAccess(Protocol):
    """A detector whose device features can be read and written by name (GenICam SFNC)."""

    def get_feature(self, name: str) -> int | float | str | bool:
        """Read a feature; an enumeration gives its entry's name."""
        ...

    def set_feature(self, name: str, value: int | float | str | bool) -> None:
        """Write a feature; a string is parsed by the feature's own type (GenApi FromString).

        Raises
        ------
        InvalidSetting
            Unknown feature, value out of range or of the wrong kind, or not writable.
        """
        ...


class TriggerSource(enum.Enum):
    """What starts a panel's integration: its own setting, as the panel is configured.

    ``software``: the host's trigger command (GenICam SFNC ``TriggerSource=Software``);
    ``generator``: the generator's sync output on the panel's trigger input (SFNC
    ``TriggerSource=Line0``..., wired to the generator's exposure-release line); ``aed``:
    the panel detects the beam by its dose rate (automatic exposure detection, a vendor
    feature). A panel exposed in a trigger mode other than its source reads a dark image.
    """

    SOFTWARE = "software"
    GENERATOR = "generator"
    AED = "aed"


@runtime_checkable
class ReportsTriggerSource(Protocol):
    """A detector that says what starts its integration (see :class:`TriggerSource`).

    ``trigger_source`` is read without I/O (what the panel was set to); None when the
    panel does not say (free-running, or a source panelgate does not know).
    """

    @property
    def trigger_source(self) -> TriggerSource | None:
        """The panel's trigger source, or None when it does not say."""
        ...


class DetectorState(enum.Enum):
    """Where a detector is in its acquisition cycle."""

    DISCONNECTED = "disconnected"
    IDLE = "idle"
    ARMED = "armed"
    ACQUIRING = "acquiring"
    STREAMING = "streaming"  #: a :meth:`Detector.stream` is open; single reads are refused


@dataclass(frozen=True)
class DetectorInfo:
    """Identity of a detector, as it reports itself.

    Parameters
    ----------
    serial : str
        Serial number; calibration sets are tied to it.
    model, manufacturer, firmware : str
        As reported by the device.
    pixel_pitch_mm : float
        Pixel pitch at the detector surface, in millimetres (unbinned).
    bits_stored : int
        Significant bits per pixel (14 or 16).
    detector_type : str
        DICOM Detector Type (0018,7004): ``SCINTILLATOR`` or ``DIRECT``.
    counts_per_ugy : float or None
        Factory dose calibration at RQA5 (counts per µGy of air kerma), from which the
        Exposure Index of IEC 62494-1 is computed; None when the detector has none.
    sensor_width_px, sensor_height_px : int
        Full sensor matrix, unbinned (SFNC ``WidthMax``/``HeightMax`` at binning 1); 0 when
        the detector does not say.
    """

    serial: str
    model: str
    manufacturer: str
    firmware: str
    pixel_pitch_mm: float
    bits_stored: int = 16
    detector_type: str = "SCINTILLATOR"
    counts_per_ugy: float | None = None
    sensor_width_px: int = 0
    sensor_height_px: int = 0


@dataclass(frozen=True)
class DetectorStatus:
    """A snapshot of a detector's state, for display and for the workflow."""

    state: DetectorState
    mode: ReadoutMode | None
    temp_c: float
    frames_read: int


class Detector(abc.ABC):
    """Base class of every panel driver.

    Subclasses implement ``_do_connect``, ``_do_close``, ``_do_configure``, ``_do_arm``,
    ``_do_trigger``, ``_do_read`` and ``_do_abort``; the public methods here validate and
    sequence them. Methods are safe to call from several threads: one lock orders them,
    except :meth:`abort` and :meth:`cancel_read`, which interrupt a :meth:`read_frame` (or a
    :meth:`stream`) in progress through the detector's cancel event.
    """

    def __init__(self) -> None:
        self._state = DetectorState.DISCONNECTED
        self._mode: ReadoutMode | None = None
        self._frames_read = 0
        self._lock = threading.RLock()
        self._read_cancel = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------
    def connect(self) -> DetectorInfo:
        """Open the link and identify the detector.

        Returns
        -------
        DetectorInfo
            Who the detector says it is.

        Raises
        ------
        TransportError
            The detector cannot be reached.
        """
        with self._lock:
            if self._state is not DetectorState.DISCONNECTED:
                raise IncompatibleState(f"connect() while {self._state.value}")
            info = self._do_connect()
            self._state = DetectorState.IDLE
            _log.info("connected to %s %s (serial %s)", info.manufacturer, info.model, info.serial)
            return info

    def close(self) -> None:
        """Release the detector; safe to call more than once."""
        with self._lock:
            if self._state is DetectorState.DISCONNECTED:
                return
            self._read_cancel.set()
            try:
                if self._state is not DetectorState.IDLE:
                    self._do_abort()
            finally:
                self._state = DetectorState.DISCONNECTED
                self._do_close()

    def __enter__(self) -> Detector:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- acquisition -------------------------------------------------------------------
    @property
    def info(self) -> DetectorInfo:
        """Identity of the connected detector."""
        if self._state is DetectorState.DISCONNECTED:
            raise IncompatibleState("detector is disconnected: connect() first")
        return self._do_info()

    @property
    def mode(self) -> ReadoutMode:
        """The readout mode last configured."""
        if self._mode is None:
            raise IncompatibleState("no readout mode configured yet: call configure() first")
        return self._mode

    def configure(self, mode: ReadoutMode) -> None:
        """Set the readout mode (size, binning, gain mode, integration time).

        Raises
        ------
        IncompatibleState
            Not idle.
        InvalidSetting
            The detector does not support the mode.
        """
        with self._lock:
            self._require(DetectorState.IDLE)
            self._do_configure(mode)
            self._mode = mode

    def arm(self) -> None:
        """Prepare the panel for an exposure (scrub, reset the integration)."""
        with self._lock:
            self._require(DetectorState.IDLE)
            if self._mode is None:
                raise IncompatibleState("arm() before configure(): no readout mode set")
            self._read_cancel.clear()
            self._do_arm()
            self._state = DetectorState.ARMED

    def trigger(self) -> None:
        """Start integration now (software trigger)."""
        with self._lock:
            self._require(DetectorState.ARMED)
            self._do_trigger()
            self._state = DetectorState.ACQUIRING

    def read_frame(self, timeout_s: float, cancel: threading.Event | None = None) -> Frame:
        """Wait for the frame of the current exposure and return it.

        Parameters
        ----------
        timeout_s : float
            Longest wait in seconds; must be positive and finite.
        cancel : threading.Event, optional
            The caller's cancel event: once set (from any thread), the wait ends within
            :data:`~panelgate.drivers.cancel.CANCEL_POLL_S`. The detector's own event
            (:meth:`abort`, :meth:`cancel_read`) ends it too.

        Raises
        ------
        DetectorTimeout
            No complete frame arrived within ``timeout_s``; the detector stays acquiring
            and may be read again or aborted.
        ReadCancelled
            ``cancel`` or the detector's own event was set; after :meth:`cancel_read` the
            detector stays acquiring (read again or abort), after :meth:`abort` it is idle.
        """
        _check_timeout(timeout_s)
        with self._lock:
            self._require(DetectorState.ACQUIRING)
        try:
            frame = self._do_read(timeout_s, ReadCancel(self._read_cancel, cancel))
        except ReadCancelled:
            with self._lock:
                if self._state is DetectorState.ACQUIRING:
                    self._read_cancel.clear()  # cancel_read() ends one read, not the next
            raise
        with self._lock:
            self._frames_read += 1
            self._state = DetectorState.IDLE
        return frame

    def cancel_read(self) -> None:
        """End the :meth:`read_frame` waiting now (from another thread) with ReadCancelled.

        The detector stays acquiring; a read that starts after this call, in the same
        acquisition, is cancelled at once. Closing a :meth:`stream` uses the same event.
        """
        self._read_cancel.set()

    def abort(self) -> None:
        """Stop whatever the detector is doing and return to IDLE.

        A :meth:`read_frame` or :meth:`stream` waiting in another thread ends with
        :class:`~panelgate.drivers.errors.ReadCancelled`.
        """
        if self._state is DetectorState.DISCONNECTED:
            raise IncompatibleState("abort() on a detector that is not connected")
        self._read_cancel.set()
        self._do_abort()
        with self._lock:
            self._state = DetectorState.IDLE

    # -- continuous acquisition --------------------------------------------------------
    def stream(
        self,
        count: int | None = None,
        *,
        timeout_s: float = 10.0,
        depth: int = 4,
        policy: StreamPolicy = "block",
        on_armed: Callable[[], None] | None = None,
    ) -> FrameStream:
        """Acquire frames continuously in a thread into a bounded queue; iterate to take them.

        Each frame is one exposure cycle (arm, ``on_armed()``, trigger, read) run by the
        stream's thread through the same hooks as the single-frame calls; the detector is
        STREAMING until the stream is closed (``with`` block), then IDLE. Single-frame
        calls are refused meanwhile; :meth:`abort` ends the stream.

        Parameters
        ----------
        count : int or None
            Frames to acquire; None until the stream is closed.
        timeout_s : float
            Longest wait for each frame, in seconds (positive, finite).
        depth : int
            Queue capacity, in frames (>= 1).
        policy : {"block", "drop-oldest"}
            When the queue is full: ``"block"`` pauses the acquisition until the reader
            takes a frame (nothing is lost); ``"drop-oldest"`` keeps acquiring and discards
            the oldest queued frame, counted in ``dropped``.
        on_armed : callable, optional
            Called after each arm, before the trigger: where the beam goes on (a
            generator's exposure, a simulated dose).

        Returns
        -------
        FrameStream
            Iterator and context manager of frames, with :meth:`FrameStream.counters`.

        Raises
        ------
        IncompatibleState
            Not idle, or no readout mode configured.
        ValueError
            A bad ``timeout_s``, ``count``, ``depth`` or ``policy``.
        """
        _check_timeout(timeout_s)
        with self._lock:
            self._require(DetectorState.IDLE)
            if self._mode is None:
                raise IncompatibleState("stream() before configure(): no readout mode set")
            stream = FrameStream(
                lambda cancel: self._stream_frame(timeout_s, cancel, on_armed),
                self._end_stream,
                self._read_cancel,
                count=count,
                depth=depth,
                policy=policy,
            )
            self._read_cancel.clear()
            self._state = DetectorState.STREAMING
        return stream.start()

    def _stream_frame(
        self, timeout_s: float, cancel: ReadCancel, on_armed: Callable[[], None] | None
    ) -> Frame:
        """One frame of a stream (the stream's thread)."""
        cancel.check("stream")
        frame = self._do_stream_frame(timeout_s, cancel, on_armed)
        with self._lock:
            self._frames_read += 1
        return frame

    def _end_stream(self) -> None:
        """Return to IDLE when a stream closes (unless abort or close did already)."""
        with self._lock:
            if self._state is not DetectorState.STREAMING:
                return
            try:
                self._do_abort()
            finally:
                self._state = DetectorState.IDLE

    def status(self) -> DetectorStatus:
        """Return the current state, mode, temperature and frame count."""
        temp_c = math.nan if self._state is DetectorState.DISCONNECTED else self._do_temperature()
        return DetectorStatus(self._state, self._mode, temp_c, self._frames_read)

    def counters(self) -> dict[str, int]:
        """Return the transport's counters (frames completed, packets resent, ...); may be empty."""
        return dict(self._do_counters())

    def _require(self, *allowed: DetectorState) -> None:
        """Raise IncompatibleState unless the detector is in one of ``allowed``."""
        if self._state not in allowed:
            names = " or ".join(s.value for s in allowed)
            raise IncompatibleState(f"detector is {self._state.value}; this needs {names}")

    # -- hooks for subclasses ------------------------------------------------------------
    @abc.abstractmethod
    def _do_connect(self) -> DetectorInfo: ...

    @abc.abstractmethod
    def _do_close(self) -> None: ...

    @abc.abstractmethod
    def _do_info(self) -> DetectorInfo: ...

    @abc.abstractmethod
    def _do_configure(self, mode: ReadoutMode) -> None: ...

    @abc.abstractmethod
    def _do_arm(self) -> None: ...

    @abc.abstractmethod
    def _do_trigger(self) -> None: ...

    @abc.abstractmethod
    def _do_read(self, timeout_s: float, cancel: ReadCancel) -> Frame:
        """Wait up to ``timeout_s`` for the frame; raise ReadCancelled once ``cancel`` is set.

        A hook that waits in pieces looks at ``cancel`` at least every
        :data:`~panelgate.drivers.cancel.CANCEL_POLL_S`, and counts one timeout per call.
        """

    @abc.abstractmethod
    def _do_abort(self) -> None: ...

    def _do_stream_frame(
        self, timeout_s: float, cancel: ReadCancel, on_armed: Callable[[], None] | None
    ) -> Frame:
        """One frame of a stream: an exposure cycle (arm, ``on_armed``, trigger, read).

        A panel that can free-run (a GigE Vision device with TriggerMode Off) overrides it
        to start once and then only read.
        """
        self._do_arm()
        if on_armed is not None:
            on_armed()
        self._do_trigger()
        return self._do_read(timeout_s, cancel)

    @abc.abstractmethod
    def _do_temperature(self) -> float: ...

    def _do_counters(self) -> dict[str, int]:
        """Transport counters; detectors without a stream of their own have none."""
        return {}


def _check_timeout(timeout_s: float) -> None:
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"timeout_s must be positive and finite, got {timeout_s!r}")

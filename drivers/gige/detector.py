"""The GigE Vision panel driver, URL ``gige://HOST[:PORT][?packet_size=N]``.

:class:`GigEDetector` implements the :class:`~panelgate.drivers.Detector` contract over
GVCP/GVSP (GigE Vision 2.x): ``connect`` takes control privilege and starts the heartbeat,
loads the device's GenICam XML into GenApi and opens the stream receiver; ``configure``
writes SFNC features (Width, Height, PixelFormat, ExposureTime, binning, trigger);
``arm`` starts acquisition in software-trigger mode, ``trigger`` executes TriggerSoftware,
``read_frame`` returns the next complete frame (one wait, looking at its cancel condition
and the link every ``CANCEL_POLL_S``; the ``timeouts`` counter counts whole waits). After
a lost link or lost privilege the heartbeat thread takes control again and restores the
configuration; meanwhile ``read_frame`` raises
:class:`~panelgate.drivers.errors.TransportError` with the reason.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from panelgate.drivers.cancel import CANCEL_POLL_S, ReadCancel
from panelgate.drivers.detector import Detector, DetectorInfo, TriggerSource
from panelgate.drivers.errors import (
    DetectorTimeout,
    InvalidSetting,
    PanelgateError,
    TransportError,
)
from panelgate.drivers.frame import Frame, FrameMeta, ReadoutMode

from . import bootstrap as bs
from .control import GvcpClient, GvcpTiming
from .features import FeatureMap
from .link import ControlLink
from .receiver import GvspReceiver, ReceiverPolicy, StreamGeometry

__all__ = ["GigEConfig", "GigEDetector"]

_log = logging.getLogger(__name__)
_FORMATS = {16: "Mono16", 14: "Mono14"}


@dataclass(frozen=True)
class GigEConfig:
    """How to talk to one GigE Vision panel.

    Parameters
    ----------
    host : str
        Device IPv4 address.
    port : int
        GVCP port.
    packet_size_bytes : int
        GVSP packet size written to SCPS (IP + UDP + GVSP headers included).
    bits_stored : int
        16 (Mono16) or 14 (Mono14).
    pixel_pitch_mm : float
        Used when the device has no SensorPixelWidth feature (NaN = unknown).
    extended_ids : bool
        Expect extended GVSP headers (64-bit block ids) and ask resends with them.
    timing, policy :
        Control-channel timeouts and receiver policy.
    """

    host: str
    port: int = bs.GVCP_PORT
    packet_size_bytes: int = 1500
    bits_stored: int = 16
    pixel_pitch_mm: float = math.nan
    extended_ids: bool = False
    timing: GvcpTiming = field(default_factory=GvcpTiming)
    policy: ReceiverPolicy = field(default_factory=ReceiverPolicy)

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.port < 65536:
            problems.append(f"port must be 1-65535, got {self.port}")
        if not 576 <= self.packet_size_bytes <= 65500 or self.packet_size_bytes % 4:
            problems.append(
                f"packet_size must be 576-65500 and a multiple of 4, got {self.packet_size_bytes}"
            )
        if self.bits_stored not in _FORMATS:
            problems.append(f"bits_stored must be 14 or 16, got {self.bits_stored}")
        if problems:
            raise InvalidSetting("invalid GigE configuration: " + "; ".join(problems))


class GigEDetector(Detector):
    """A flat panel on GigE Vision.

    Parameters
    ----------
    config : GigEConfig
        Address, packet size, timeouts.
    """

    def __init__(self, config: GigEConfig) -> None:
        super().__init__()
        self.config = config
        self._client: GvcpClient | None = None
        self._link: ControlLink | None = None
        self._features: FeatureMap | None = None
        self._receiver: GvspReceiver | None = None
        self._info: DetectorInfo | None = None
        self._settings: list[tuple[str, int | float | str | bool]] = []
        self._streaming = False
        self._io = threading.RLock()
        self._timeouts = 0

    @classmethod
    def from_url(cls, url: str) -> GigEDetector:
        """Build a driver from ``gige://HOST[:PORT][?key=value&...]``.

        Keys: ``packet_size`` (bytes), ``bits`` (14 or 16), ``pitch_mm``, ``extended_ids``
        (0 or 1).

        Raises
        ------
        InvalidSetting
            Not a gige URL, or a bad parameter.
        """
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "gige" or not parts.hostname or parts.path not in ("", "/"):
            raise InvalidSetting(f"not a GigE URL (expected gige://HOST[:PORT]): {url!r}")
        known = {
            "packet_size": "packet_size_bytes",
            "bits": "bits_stored",
            "pitch_mm": "pixel_pitch_mm",
            "extended_ids": "extended_ids",
        }
        kwargs: dict[str, float | int | bool] = {}
        for key, values in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items():
            if key not in known:
                raise InvalidSetting(
                    f"unknown GigE parameter {key!r} in {url!r}; known: {sorted(known)}"
                )
            try:
                value = float(values[-1]) if key == "pitch_mm" else int(values[-1])
                kwargs[known[key]] = bool(value) if key == "extended_ids" else value
            except ValueError:
                raise InvalidSetting(
                    f"GigE parameter {key}={values[-1]!r} is not a number"
                ) from None
        try:
            port = parts.port or bs.GVCP_PORT
        except ValueError:
            raise InvalidSetting(f"bad port in {url!r}") from None
        return cls(GigEConfig(parts.hostname, port, **kwargs))  # type: ignore[arg-type]

    # -- public extras -------------------------------------------------------------------------
    @property
    def features(self) -> FeatureMap:
        """The device's GenICam features (connected detectors only)."""
        if self._features is None:
            raise TransportError("not connected: no feature map")
        return self._features

    def get_feature(self, name: str) -> int | float | str | bool:
        """Read a feature (see :class:`panelgate.drivers.FeatureAccess`)."""
        with self._io:
            return self.features.get(name)

    def set_feature(self, name: str, value: int | float | str | bool) -> None:
        """Write a feature and remember it, so that it is restored after a reconnect."""
        with self._io:
            self.features.set(name, value)
            self._settings = [(n, v) for n, v in self._settings if n != name] + [(name, value)]

    @property
    def trigger_source(self) -> TriggerSource | None:
        """The trigger source set on the device (:class:`~panelgate.drivers.ReportsTriggerSource`).

        Read from what the device accepted (``configure`` and :meth:`set_feature`), without
        I/O: vendor ``PanelAEDEnable`` on: AED; SFNC ``TriggerMode=On`` with
        ``TriggerSource=Software``: software, ``Line<n>`` (the generator's sync wired to an
        input line): generator; None when free-running (``TriggerMode=Off``), not yet
        configured, or set to a source panelgate does not know.
        """
        settings = dict(self._settings)
        if str(settings.get("PanelAEDEnable", "0")).lower() in ("1", "true"):
            return TriggerSource.AED
        if settings.get("TriggerMode") != "On":
            return None
        source = str(settings.get("TriggerSource", ""))
        if source == "Software":
            return TriggerSource.SOFTWARE
        return TriggerSource.GENERATOR if source.startswith("Line") else None

    # -- Detector hooks --------------------------------------------------------------------------
    def _do_connect(self) -> DetectorInfo:
        cfg = self.config
        client = GvcpClient(cfg.host, cfg.port, cfg.timing)
        try:
            identity = {
                reg: client.read_memory(reg, bs.STRING_SIZES_BYTES[reg]).split(b"\0", 1)[0].decode(
                    "utf-8", "replace"
                )
                for reg in (bs.REG_MANUFACTURER_NAME, bs.REG_MODEL_NAME, bs.REG_DEVICE_VERSION,
                            bs.REG_SERIAL_NUMBER)
            }  # fmt: skip
            link = ControlLink(client, self._restore)
            link.take()
        except PanelgateError:
            client.close()
            raise
        self._client, self._link = client, link
        try:
            self._features = FeatureMap(client)
            geometry = self._geometry()
            self._receiver = GvspReceiver(
                client.local_address[0], geometry, client.request_resend, cfg.policy
            )
            self._point_stream()
        except PanelgateError:
            self._do_close()
            raise
        pitch_mm = cfg.pixel_pitch_mm
        if self._features.has("SensorPixelWidth"):
            pitch_mm = float(self._features.get("SensorPixelWidth")) / 1000
        sensor = self._sensor_size()
        self._info = DetectorInfo(
            serial=identity[bs.REG_SERIAL_NUMBER],
            model=identity[bs.REG_MODEL_NAME],
            manufacturer=identity[bs.REG_MANUFACTURER_NAME],
            firmware=identity[bs.REG_DEVICE_VERSION],
            pixel_pitch_mm=pitch_mm,
            bits_stored=cfg.bits_stored,
            sensor_width_px=sensor[0],
            sensor_height_px=sensor[1],
        )
        return self._info

    def _do_info(self) -> DetectorInfo:
        if self._info is None:
            raise TransportError("not connected")
        return self._info

    def _do_close(self) -> None:
        if self._streaming:
            with self._io:
                self._stop_acquisition()
        if self._receiver is not None:
            self._receiver.close()
        if self._link is not None:
            self._link.release()
        if self._client is not None:
            self._client.close()
        self._client = self._link = self._features = self._receiver = None

    def _do_configure(self, mode: ReadoutMode) -> None:
        fm = self.features
        with self._io, self._link_errors():
            self._check_link()
            max_w, max_h = self._sensor_max(mode.binning)
            if mode.width > max_w or mode.height > max_h:
                raise InvalidSetting(
                    f"the panel reads at most {max_w}x{max_h} at binning {mode.binning}; "
                    f"asked for {mode.width}x{mode.height}"
                )
            settings: list[tuple[str, int | float | str | bool]] = [
                (name, mode.binning)
                for name in ("BinningHorizontal", "BinningVertical")
                if fm.has(name)
            ]
            if mode.binning != 1 and not fm.has("BinningHorizontal"):
                raise InvalidSetting(f"the panel cannot bin; asked for binning {mode.binning}")
            settings += [
                ("OffsetX", 0),
                ("OffsetY", 0),
                ("Width", mode.width),
                ("Height", mode.height),
            ]
            settings.append(("PixelFormat", _FORMATS[self.config.bits_stored]))
            exposure = "ExposureTime" if fm.has("ExposureTime") else "ExposureTimeAbs"
            settings.append((exposure, mode.exposure_s * 1e6))
            if fm.has("PanelGainMode"):
                settings.append(("PanelGainMode", mode.gain_mode.capitalize()))
            if fm.has("TriggerSelector"):
                settings.append(("TriggerSelector", "FrameStart"))
            settings += [("TriggerMode", "On"), ("TriggerSource", "Software")]
            settings.append(("AcquisitionMode", "Continuous"))
            if self._streaming:
                self._stop_acquisition()
            for name, value in settings:
                if fm.has(name):
                    self.set_feature(name, value)
            self._reopen_stream()

    def _do_arm(self) -> None:
        with self._io, self._link_errors():
            self._check_link()
            receiver = self._require_receiver()
            if not self._streaming:
                receiver.reset()
            receiver.drain()
            receiver.start()
            if not self._streaming:
                self.features.execute("AcquisitionStart")
                self._streaming = True

    def _do_trigger(self) -> None:
        with self._io, self._link_errors():
            self._check_link()
            self.features.execute("TriggerSoftware")

    def _do_read(self, timeout_s: float, cancel: ReadCancel) -> Frame:
        receiver = self._require_receiver()
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            cancel.check(f"read from gige://{self.config.host}")
            self._check_link()
            got = receiver.get(min(left, CANCEL_POLL_S))
            if got is not None:
                meta = FrameMeta(
                    frame_id=got.block_id,
                    t_mono_s=got.t_mono_s,
                    mode=self.mode,
                    serial=self._do_info().serial,
                    temp_c=self._do_temperature(),
                    model=self._do_info().model,
                    firmware=self._do_info().firmware,
                )
                return Frame(got.pixels, meta)
        self._timeouts += 1
        raise DetectorTimeout(
            f"no complete frame from gige://{self.config.host} within {timeout_s:g} s"
        )

    def _do_stream_frame(
        self, timeout_s: float, cancel: ReadCancel, on_armed: Callable[[], None] | None
    ) -> Frame:
        """Free-running (TriggerMode Off, set with set_feature): start once, then only read.

        Triggered (the default after configure): one exposure cycle per frame.
        """
        if dict(self._settings).get("TriggerMode") != "Off":
            return super()._do_stream_frame(timeout_s, cancel, on_armed)
        if not self._streaming:
            self._do_arm()
            if on_armed is not None:
                on_armed()
        return self._do_read(timeout_s, cancel)

    def _do_abort(self) -> None:
        with self._io:
            if self._streaming:
                self._stop_acquisition()
            if self._receiver is not None:
                self._receiver.drain()

    def _do_temperature(self) -> float:
        fm = self._features
        if fm is None or self._lost_reason() is not None:
            return math.nan
        try:
            with self._io:  # GenApi is not thread-safe: every use of the node map holds _io
                if not fm.has("DeviceTemperature"):
                    return math.nan
                return float(fm.get("DeviceTemperature"))
        except PanelgateError:
            return math.nan

    def _do_counters(self) -> dict[str, int]:
        out: dict[str, int] = {"timeouts": self._timeouts}
        if self._receiver is not None:
            out.update(self._receiver.counters)
        if self._client is not None:
            out.update({f"gvcp_{k}": v for k, v in self._client.counters.items()})
        if self._link is not None:
            out["reconnects"] = self._link.reconnects
        return out

    # -- internals ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _link_errors(self) -> Iterator[None]:
        """Turn a control command without any acknowledge into TransportError: the link is gone."""
        try:
            yield
        except DetectorTimeout as exc:
            raise TransportError(f"gige://{self.config.host}:{self.config.port}: {exc}") from exc

    def _lost_reason(self) -> str | None:
        return None if self._link is None else self._link.lost_reason

    def _check_link(self) -> None:
        reason = self._lost_reason()
        if reason is not None:
            raise TransportError(f"gige://{self.config.host}:{self.config.port}: {reason}")

    def _require_receiver(self) -> GvspReceiver:
        if self._receiver is None:
            raise TransportError("not connected: no stream receiver")
        return self._receiver

    def _sensor_size(self) -> tuple[int, int]:
        """Unbinned sensor matrix from WidthMax/HeightMax; (0, 0) when the device does not say."""
        width, height = self._sensor_max(1)
        return (0, 0) if width >= 1 << 16 else (width, height)

    def _sensor_max(self, binning: int) -> tuple[int, int]:
        fm = self.features
        for w_name, h_name in (("WidthMax", "HeightMax"), ("SensorWidth", "SensorHeight")):
            if fm.has(w_name) and fm.has(h_name):
                if fm.has("BinningHorizontal") and w_name == "WidthMax":
                    current = int(fm.get("BinningHorizontal"))
                    return (
                        int(fm.get(w_name)) * current // binning,
                        int(fm.get(h_name)) * current // binning,
                    )
                return int(fm.get(w_name)) // binning, int(fm.get(h_name)) // binning
        return 1 << 16, 1 << 16

    def _geometry(self) -> StreamGeometry:
        fm = self.features
        return StreamGeometry(
            int(fm.get("Width")),
            int(fm.get("Height")),
            self.config.packet_size_bytes,
            extended_ids=self.config.extended_ids,
        )

    def _point_stream(self) -> None:
        client, receiver = self._client, self._require_receiver()
        if client is None:
            raise TransportError("not connected")
        ip = struct.unpack(">I", socket.inet_aton(client.local_address[0]))[0]
        # one register per WRITEREG: aravis' fake camera applies only the first pair of several
        for address, value in (
            (bs.REG_SCDA0, ip),
            (bs.REG_SCP0, receiver.port),
            (bs.REG_SCPS0, self.config.packet_size_bytes),
        ):
            client.write_register(address, value)

    def _reopen_stream(self) -> None:
        receiver = self._require_receiver()
        receiver.stop()
        receiver.set_geometry(self._geometry())
        self._point_stream()

    def _stop_acquisition(self) -> None:
        self._streaming = False
        if self._lost_reason() is not None:
            return
        try:
            self.features.execute("AcquisitionStop")
        except PanelgateError as exc:
            _log.info("AcquisitionStop failed: %s", exc)

    def _restore(self) -> None:
        """Re-apply the configuration after control was taken back (heartbeat thread)."""
        with self._io:
            fm = self.features
            streaming = self._streaming
            self._require_receiver().reset()
            for name, value in self._settings:
                fm.set(name, value)
            self._point_stream()
            if streaming:
                fm.execute("AcquisitionStart")
            _log.info("restored %d settings on gige://%s", len(self._settings), self.config.host)

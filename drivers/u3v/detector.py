"""A flat panel on USB3 Vision, URL ``usb://VID:PID[/SERIAL]`` (hexadecimal ids).

Connect finds the device (pyusb, optionally through an injected backend), claims its U3V
control and streaming interfaces (class 0xEF, subclass 0x05, protocols 0 and 2), reads the
bootstrap registers (ABRM → SBRM → SIRM), loads the GenICam XML and configures the stream.
Features used (SFNC names): ``WidthMax``, ``HeightMax``, ``Width``, ``Height``,
``ExposureTime`` (µs), ``AcquisitionStart``, ``AcquisitionStop``, ``TriggerSoftware``,
``DeviceTemperature``; panel facts ``PanelPixelPitch`` (mm) and ``PanelCountsPerUgy``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import numpy as np
import usb.core
import usb.util

from panelgate.drivers.cancel import ReadCancel
from panelgate.drivers.detector import Detector, DetectorInfo
from panelgate.drivers.errors import InvalidSetting, TransportError
from panelgate.drivers.frame import Frame, FrameMeta, ReadoutMode

from .control import ControlChannel
from .features import Features, read_manifest_xml
from .protocol import ABRM, SBRM, U3V_CLASS, U3V_SUBCLASS, StreamLayout
from .stream import StreamChannel
from .usberrors import translate

__all__ = ["U3VDetector"]

_log = logging.getLogger(__name__)
_URL = re.compile(r"^usb://([0-9a-fA-F]{4}):([0-9a-fA-F]{4})(?:/([^/?#]+))?$")


class U3VDetector(Detector):
    """A USB3 Vision panel.

    Parameters
    ----------
    vid, pid : int
        USB vendor and product id.
    serial : str or None
        Serial number (iSerialNumber) when several panels share VID:PID.
    backend : usb.backend.IBackend, optional
        pyusb backend; libusb when omitted (a simulated device passes its own).
    timeout_s : float
        Control acknowledgement timeout in seconds.
    """

    def __init__(
        self, vid: int, pid: int, serial: str | None = None, backend: Any = None,
        timeout_s: float = 0.5,
    ) -> None:  # fmt: skip
        super().__init__()
        self.vid, self.pid, self.serial = vid, pid, serial
        self.backend = backend
        self.timeout_s = timeout_s
        self.sensor_size: tuple[int, int] | None = None
        self._dev: Any = None
        self._control: ControlChannel | None = None
        self._stream: StreamChannel | None = None
        self._features: Features | None = None
        self._info: DetectorInfo | None = None
        self._interfaces: list[int] = []
        self._io = threading.RLock()  # GenApi is not thread-safe: one user of the node map

    @classmethod
    def from_url(cls, url: str, backend: Any = None) -> U3VDetector:
        """Build from ``usb://VID:PID[/SERIAL]``.

        Raises
        ------
        InvalidSetting
            Not a valid ``usb://`` URL.
        """
        m = _URL.match(url)
        if m is None:
            raise InvalidSetting(
                f"not a USB3 Vision URL (expected usb://VID:PID[/SERIAL]): {url!r}"
            )
        return cls(int(m[1], 16), int(m[2], 16), m[3], backend=backend)

    # -- connect --------------------------------------------------------------------------------
    def _do_connect(self) -> DetectorInfo:
        try:
            self._open()
            return self._bootstrap()
        except BaseException:
            self._release()
            raise

    def _open(self) -> None:
        def wanted(dev: Any) -> bool:
            return self.serial is None or usb.util.get_string(dev, dev.iSerialNumber) == self.serial

        try:
            dev = usb.core.find(
                idVendor=self.vid, idProduct=self.pid, custom_match=wanted, backend=self.backend
            )
        except usb.core.USBError as exc:
            raise translate(exc, "USB enumeration") from exc
        except usb.core.NoBackendError as exc:
            raise TransportError("no USB backend (libusb) is available") from exc
        if dev is None:
            serial = f"/{self.serial}" if self.serial else ""
            raise TransportError(f"no USB3 Vision device {self.vid:04x}:{self.pid:04x}{serial}")
        cfg = dev.get_active_configuration()
        eps: dict[int, Any] = {}
        for intf in cfg:
            if (intf.bInterfaceClass, intf.bInterfaceSubClass) != (U3V_CLASS, U3V_SUBCLASS):
                continue
            if dev.is_kernel_driver_active(intf.bInterfaceNumber):
                dev.detach_kernel_driver(intf.bInterfaceNumber)
            usb.util.claim_interface(dev, intf.bInterfaceNumber)
            self._interfaces.append(intf.bInterfaceNumber)
            for ep in intf:
                key = intf.bInterfaceProtocol * 2 + (
                    usb.util.endpoint_direction(ep.bEndpointAddress) == usb.util.ENDPOINT_IN
                )
                eps[key] = ep
        self._dev = dev
        if dev.speed is not None and dev.speed < usb.util.SPEED_SUPER:
            _log.warning("USB3 Vision device on a USB 2 link: low bandwidth")
        if not {0, 1, 5} <= set(eps):
            raise TransportError("the device has no U3V control and streaming interfaces")
        self._control = ControlChannel(eps[0], eps[1], self.timeout_s)
        self._stream_ep = eps[5]

    def _bootstrap(self) -> DetectorInfo:
        c = self._control
        if c is None:
            raise TransportError("USB3 Vision control channel is not open")
        text = {
            name: c.read_mem(addr, ABRM.STRING_SIZE).split(b"\0")[0].decode("ascii", "replace")
            for name, addr in (
                ("manufacturer", ABRM.MANUFACTURER), ("model", ABRM.MODEL),
                ("version", ABRM.VERSION), ("serial", ABRM.SERIAL),
            )
        }  # fmt: skip
        c.timeout_s = max(self.timeout_s, c.read_u32(ABRM.MAX_RESPONSE_MS) / 1000)
        sbrm = c.read_u64(ABRM.SBRM_ADDRESS)
        c.max_cmd_bytes = c.read_u32(sbrm + SBRM.MAX_CMD_TRANSFER)
        c.max_ack_bytes = c.read_u32(sbrm + SBRM.MAX_ACK_TRANSFER)
        self._stream = StreamChannel(self._stream_ep, c, c.read_u64(sbrm + SBRM.SIRM_ADDRESS))
        f = self._features = Features(c, read_manifest_xml(c))
        self.sensor_size = (int(f.get("WidthMax")), int(f.get("HeightMax")))
        self._info = DetectorInfo(
            serial=text["serial"],
            model=text["model"],
            manufacturer=text["manufacturer"],
            firmware=text["version"],
            pixel_pitch_mm=float(f.get("PanelPixelPitch")),
            bits_stored=16,
            counts_per_ugy=float(f.get("PanelCountsPerUgy")) or None,
            sensor_width_px=self.sensor_size[0],
            sensor_height_px=self.sensor_size[1],
        )
        return self._info

    def _do_info(self) -> DetectorInfo:
        if self._info is None:
            raise TransportError("not connected")
        return self._info

    def _do_close(self) -> None:
        try:
            if self._stream is not None and self._dev is not None:
                self._stream.stop()
        except TransportError:
            _log.debug("stopping the stream on close failed", exc_info=True)
        finally:
            self._release()

    def _release(self) -> None:
        if self._dev is not None:
            try:
                usb.util.dispose_resources(self._dev)
            except usb.core.USBError:
                _log.debug("releasing the USB device failed", exc_info=True)
        self._dev = self._control = self._stream = self._features = None
        self._interfaces = []

    @property
    def stream_layout(self) -> StreamLayout | None:
        """How a block is cut into bulk transfers (after :meth:`configure`), or None."""
        return None if self._stream is None else self._stream.layout

    # -- acquisition ----------------------------------------------------------------------------
    def _parts(self) -> tuple[Features, StreamChannel]:
        if self._features is None or self._stream is None:
            raise TransportError("USB3 Vision device is not connected")
        return self._features, self._stream

    def _do_configure(self, mode: ReadoutMode) -> None:
        f, stream = self._parts()
        max_w, max_h = self.sensor_size or (0, 0)
        if mode.binning != 1 or not (mode.width <= max_w and mode.height <= max_h):
            raise InvalidSetting(
                f"this panel reads up to {max_w}x{max_h} unbinned; asked for "
                f"{mode.width}x{mode.height} binning {mode.binning}"
            )
        with self._io:
            f.set("Width", mode.width)
            f.set("Height", mode.height)
            f.set("ExposureTime", mode.exposure_s * 1e6)
            stream.configure()

    def _do_arm(self) -> None:
        f, stream = self._parts()
        with self._io:
            stream.stop()
            stream.flush()
            stream.start()
            f.execute("AcquisitionStart")

    def _do_trigger(self) -> None:
        with self._io:
            self._parts()[0].execute("TriggerSoftware")

    def _do_read(self, timeout_s: float, cancel: ReadCancel) -> Frame:
        _, stream = self._parts()
        mode = self.mode
        pixels = np.empty((mode.height, mode.width), np.uint16)
        leader, _ = stream.read_block(pixels.reshape(-1).view(np.uint8), timeout_s, cancel)
        info = self._do_info()
        meta = FrameMeta(
            frame_id=int(leader.block_id),
            t_mono_s=time.monotonic(),
            mode=mode,
            serial=info.serial,
            temp_c=self._do_temperature(),
            model=info.model,
            firmware=info.firmware,
        )
        return Frame(pixels, meta)

    def _do_abort(self) -> None:
        f, stream = self._parts()
        with self._io:
            f.execute("AcquisitionStop")
            stream.stop()

    def _do_temperature(self) -> float:
        with self._io:
            return float(self._parts()[0].get("DeviceTemperature"))

    def _do_counters(self) -> dict[str, int]:
        out: dict[str, int] = {}
        if self._control is not None:
            out.update(self._control.counters)
        if self._stream is not None:
            out.update(self._stream.counters)
        return out

"""The simulated GigE Vision flat panel: registers, GVCP server and GVSP sender together.

:class:`GigESimulator` binds the control port (default 3956) on the given address and
answers like a real panel: aravis' ``arv-tool``/``arv-camera-test`` and panelgate's own
``gige://`` driver can drive it. Register writes take effect here: ROI and pixel format
(refused with BUSY while acquiring), AcquisitionStart/Stop, TriggerSoftware, SCPS test
packets. Faults come from a :class:`~.faults.FaultPlan` given at start or later.
"""

from __future__ import annotations

import logging
import math
import socket
import struct
import threading
import time
from dataclasses import dataclass

from panelgate.drivers import InvalidSetting
from panelgate.drivers.gige import bootstrap as bs
from panelgate.drivers.gige import gvsp
from panelgate.drivers.gige.gvcp import ResendRequest, Status
from panelgate.simulators.dose import PHANTOMS, DoseIntake, placed_phantom
from panelgate.simulators.panel import PanelSpec
from panelgate.simulators.room import Room

from .faults import FaultPlan
from .features import Feature, Kind, feature, feature_at, genicam_xml
from .registers import DeviceIdentity, RegisterSpace
from .server import GvcpServer
from .source import FrameSource, Geometry
from .streamer import GvspStreamer, StreamSettings

__all__ = ["GigESimulator", "SimulatorConfig"]

_log = logging.getLogger(__name__)
_LOCKED = frozenset(
    {"Width", "Height", "OffsetX", "OffsetY", "PixelFormat", "BinningHorizontal", "BinningVertical"}
)
_BASE_TEMP_C = 31.5


@dataclass(frozen=True)
class SimulatorConfig:
    """How to run the simulated panel.

    Parameters
    ----------
    address : str
        IPv4 address to bind (must be assigned to an interface, e.g. 127.0.0.1).
    port : int
        GVCP port (3956 is the standard one; 0 picks a free port).
    width, height : int
        Sensor size in pixels (also the initial ROI).
    seed : int
        Seed of the panel model.
    frames_ahead : int
        Frames computed ahead of the stream, each a fresh readout of the panel model (see
        :mod:`.source`).
    serial : str
        Serial number in the bootstrap block.
    extended_ids : bool
        Stream with extended GVSP headers (64-bit block ids, 32-bit packet ids, GigE
        Vision 2.x). A real device switches with a host-written configuration bit; here
        it is fixed when the simulator starts, and the host must be told (``gige://``
        URL parameter ``extended_ids=1``).
    discovery_broadcast : bool
        Also listen on 255.255.255.255 at the GVCP port for broadcast DISCOVERY (as
        aravis' fake camera does); only when ``port`` is fixed.
    link_speed_mbps : int
        Speed of the device's Ethernet link: stream packets leave no faster than this
        (1000 = GigE; 0 = as fast as the host takes them, which no camera does).
    room : str, optional
        Directory of the X-ray room the panel stands in (:mod:`panelgate.simulators.room`):
        a frame carries the dose of the room's beams since the previous frame.
    phantom : str
        What stands in the room's beam (:data:`~panelgate.simulators.phantoms.PHANTOMS`),
        rendered at each pulse's kV, as ``phantom=`` of ``sim://`` and ``usb://sim``.
    field, grid, marker : str, optional
        Its placement: collimated field ``WxH[@x,y]`` (mm), anti-scatter grid (``on``,
        ``off`` or lines per cm) and side marker (``L`` or ``R``), as the URL keys of the
        other simulated panels (:func:`panelgate.simulators.dose.placed_phantom`).
    """

    address: str = "127.0.0.1"
    port: int = bs.GVCP_PORT
    width: int = 3072
    height: int = 3072
    seed: int = 0
    frames_ahead: int = 2
    serial: str = "SIM-0001"
    discovery_broadcast: bool = True
    extended_ids: bool = False
    link_speed_mbps: int = 1000
    room: str | None = None
    phantom: str = "open"
    field: str | None = None
    grid: str | None = None
    marker: str | None = None

    def __post_init__(self) -> None:
        if self.link_speed_mbps < 0:
            raise ValueError(f"link_speed_mbps must be >= 0, got {self.link_speed_mbps}")
        if self.phantom not in PHANTOMS:
            raise ValueError(f"phantom must be one of {', '.join(PHANTOMS)}, got {self.phantom!r}")

    def placement_keys(self) -> dict[str, str]:
        """Return the phantom's placement as the URL keys of the other simulated panels."""
        keys = {"phantom": self.phantom, "field": self.field, "grid": self.grid}
        keys["marker"] = self.marker
        return {k: v for k, v in keys.items() if v is not None}


class GigESimulator:
    """A simulated panel on the wire; use as a context manager or call start/stop.

    Parameters
    ----------
    config : SimulatorConfig
        Address, port, sensor size, seed.
    faults : FaultPlan, optional
        Faults shown from the start.
    """

    def __init__(self, config: SimulatorConfig, faults: FaultPlan | None = None) -> None:
        self.config = config
        self._faults = faults or FaultPlan()
        self.spec = PanelSpec(width=config.width, height=config.height, serial=config.serial)
        self._identity = DeviceIdentity(serial=config.serial, model=self.spec.model)
        self._xml = genicam_xml(self._identity.model, self._identity.manufacturer).encode()
        self._regs = self._new_registers()
        self._started_at = time.monotonic()
        self._lock = threading.RLock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((config.address, config.port))
        self.port = int(self._sock.getsockname()[1])
        intake = None
        if config.room is not None:
            s = self.spec
            panel = (s.height, s.width, s.pixel_pitch_mm)
            try:
                phantom = placed_phantom(config.placement_keys(), *panel, "simulate gige")
            except InvalidSetting as exc:
                raise ValueError(str(exc)) from None
            intake = DoseIntake(Room(config.room), phantom, panel=panel)
        self._source = FrameSource(
            self.spec,
            config.seed,
            frames_ahead=config.frames_ahead,
            intake=intake,
            temperature_c=lambda: float(self._get("DeviceTemperature")),
        )
        self.streamer = GvspStreamer(config.address, self._source, self.faults, self._disconnect)
        self._discovery_sock: socket.socket | None = None
        if config.discovery_broadcast and config.port:
            self._discovery_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._discovery_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self._discovery_sock.bind(("255.255.255.255", config.port))
            except OSError as exc:
                _log.info("no broadcast discovery socket: %s", exc)
                self._discovery_sock.close()
                self._discovery_sock = None
        self.server = GvcpServer(self._sock, lambda: self._regs, self, self._discovery_sock)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> GigESimulator:
        """Build the panel model and its frame producer, then answer GVCP (once booted).

        Building takes about a second (seconds at 3072²); done here, the first frame after
        AcquisitionStart is on time instead of that much late.
        """
        self._source.prepare()
        if self._source.intake is not None:
            self._source.intake.open()
        self.server.start()
        _log.info("GigE simulator %s on %s:%d", self.config.serial, self.config.address, self.port)
        return self

    def stop(self) -> None:
        """Stop streaming and answering; close the sockets."""
        self.streamer.close()
        self.server.stop()
        self._source.close()
        if self._source.intake is not None:
            self._source.intake.close()
        self._sock.close()
        if self._discovery_sock is not None:
            self._discovery_sock.close()

    def __enter__(self) -> GigESimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- API for tests and rigs ---------------------------------------------------------------
    def faults(self) -> FaultPlan:
        """Return the current fault plan."""
        return self._faults

    def set_faults(self, plan: FaultPlan) -> None:
        """Install a new fault plan; takes effect on the next packet."""
        self._faults = plan

    def counters(self) -> dict[str, int]:
        """Server and sender counters (commands, malformed, packets_resent, ...)."""
        return dict(self.server.counters + self.streamer.counters)

    @property
    def acquiring(self) -> bool:
        """True while frames are being sent."""
        return self.streamer.running

    # -- hooks called by the server ------------------------------------------------------------
    def resend(self, request: ResendRequest) -> None:
        """Answer a PACKETRESEND."""
        self.streamer.resend(request)

    def control_lost(self) -> None:
        """Stop streaming: the controller went away (the stream needs a controller)."""
        self.streamer.stop()
        self._set("TLParamsLocked", 0)

    def tick(self) -> None:
        """Periodic work: temperature drift and excursions, end of a simulated disconnect."""
        now = time.monotonic()
        if self.server.silent_until and now >= self.server.silent_until:
            self._reboot()
        uptime_s = now - self._started_at
        plan = self._faults
        temp = _BASE_TEMP_C + 0.5 * math.sin(uptime_s / 60)
        if not math.isnan(plan.temperature_c) and uptime_s >= plan.temperature_after_s:
            temp = plan.temperature_c
        self._set("DeviceTemperature", temp)

    def pending_ms(self) -> int:
        """Delay of register writes announced with PENDING_ACK (0 = none)."""
        return self._faults.pending_ms

    def execution_ms(self, writes: list[tuple[int, bytes]]) -> int:
        """Return the expected execution time of ``writes``, in ms.

        AcquisitionStop waits for the frame in transmission to leave (it is not cut short);
        every other write is immediate.
        """
        stop = feature("AcquisitionStop").address
        if any(address == stop and any(data) for address, data in writes):
            return math.ceil(self.streamer.transmission_left_s() * 1000)
        return 0

    def heartbeat_loss_after_s(self) -> float:
        """When the heartbeat-loss fault drops control (0 = never)."""
        return self._faults.heartbeat_loss_after_s

    # -- register side effects ---------------------------------------------------------------------
    def _new_registers(self) -> RegisterSpace:
        regs = RegisterSpace(self._identity, self._xml, self._on_write)
        for name, value in (
            ("Width", self.config.width),
            ("Height", self.config.height),
            ("WidthMax", self.config.width),
            ("HeightMax", self.config.height),
            ("SensorPixelWidth", self.spec.pixel_pitch_mm * 1000),
        ):
            regs.set_feature(feature(name), value)
        regs.set_u32(
            bs.REG_CURRENT_IP, struct.unpack(">I", socket.inet_aton(self.config.address))[0]
        )
        self._regs = regs
        self._update_payload()
        return regs

    def _get(self, name: str) -> float:
        return self._regs.get_feature(feature(name))

    def _set(self, name: str, value: float) -> None:
        self._regs.set_feature(feature(name), value)

    def _on_write(self, address: int, raw: bytes) -> int:
        with self._lock:
            if address < bs.BOOTSTRAP_SIZE_BYTES:
                return self._write_bootstrap(address, raw)
            f = feature_at(address)
            if f is None:
                return Status.INVALID_ADDRESS
            value: float = (
                struct.unpack(">d", raw)[0] if f.kind is Kind.FLOAT else struct.unpack(">I", raw)[0]
            )
            if f.name in _LOCKED and self.streamer.running:
                return Status.BUSY
            status = self._check(f, value)
            if status != Status.SUCCESS:
                return status
            if f.kind is Kind.COMMAND:
                return self._command(f.name)
            self._regs.commit(address, raw)
            self._update_payload()
            return Status.SUCCESS

    def _check(self, f: Feature, value: float) -> int:
        if f.kind is Kind.ENUM and int(value) not in {v for _, v in f.entries}:
            return Status.INVALID_PARAMETER
        if f.kind in (Kind.INTEGER, Kind.FLOAT) and not f.minimum <= value <= f.maximum:
            return Status.INVALID_PARAMETER
        if f.kind is Kind.BOOLEAN and value not in (0, 1):
            return Status.INVALID_PARAMETER
        if f.name in ("Width", "OffsetX"):
            other = "OffsetX" if f.name == "Width" else "Width"
            if value + self._get(other) > self.config.width // int(self._get("BinningHorizontal")):
                return Status.INVALID_PARAMETER
        if f.name in ("Height", "OffsetY"):
            other = "OffsetY" if f.name == "Height" else "Height"
            if value + self._get(other) > self.config.height // int(self._get("BinningVertical")):
                return Status.INVALID_PARAMETER
        return Status.SUCCESS

    def _update_payload(self) -> None:
        bin_x, bin_y = int(self._get("BinningHorizontal")), int(self._get("BinningVertical"))
        max_w, max_h = self.config.width // bin_x, self.config.height // bin_y
        self._set("WidthMax", max_w)
        self._set("HeightMax", max_h)
        if self._get("Width") + self._get("OffsetX") > max_w:
            self._set("OffsetX", 0)
            self._set("Width", max_w)
        if self._get("Height") + self._get("OffsetY") > max_h:
            self._set("OffsetY", 0)
            self._set("Height", max_h)
        self._set("PayloadSize", self._get("Width") * self._get("Height") * 2)

    def _write_bootstrap(self, address: int, raw: bytes) -> int:
        value = int(struct.unpack(">I", raw)[0])
        if address == bs.REG_SCPS0:
            size = value & bs.SCPS_SIZE_MASK
            if not 100 <= size <= 65500:
                return Status.INVALID_PARAMETER
            if value & 1 << 31:
                self.streamer.fire_test_packet(self._destination(), size)
            value &= ~(1 << 31)
        if address == bs.REG_HEARTBEAT_TIMEOUT and not 100 <= value <= 600_000:
            return Status.INVALID_PARAMETER
        self._regs.set_u32(address, value)
        return Status.SUCCESS

    def _destination(self) -> tuple[str, int]:
        ip = socket.inet_ntoa(struct.pack(">I", self._regs.u32(bs.REG_SCDA0)))
        return ip, self._regs.u32(bs.REG_SCP0)

    def _command(self, name: str) -> int:
        if name == "AcquisitionStart":
            return self._start_acquisition()
        if name == "AcquisitionStop":
            self.streamer.stop()
            self._set("TLParamsLocked", 0)
        elif name == "TriggerSoftware":
            self.streamer.software_trigger()
        return Status.SUCCESS

    def _start_acquisition(self) -> int:
        destination = self._destination()
        if destination[1] == 0 or destination[0] == "0.0.0.0":
            _log.info("AcquisitionStart refused: no stream destination (SCDA/SCP) set")
            return Status.INVALID_PARAMETER
        mode = int(self._get("AcquisitionMode"))
        fmt = int(self._get("PixelFormat"))
        geometry = Geometry(
            int(self._get("Width")), int(self._get("Height")),
            int(self._get("OffsetX")), int(self._get("OffsetY")),
            int(self._get("BinningHorizontal")), int(self._get("BinningVertical")),
            14 if fmt == gvsp.PixelFormat.MONO14 else 16,
        )  # fmt: skip
        triggered = int(self._get("TriggerMode")) == 1 and not int(self._get("PanelAEDEnable"))
        settings = StreamSettings(
            geometry=geometry,
            destination=destination,
            packet_size_bytes=self._regs.u32(bs.REG_SCPS0) & bs.SCPS_SIZE_MASK,
            packet_delay_ns=self._regs.u32(bs.REG_SCPD0),
            frame_rate_hz=self._get("AcquisitionFrameRate"),
            frame_count={0: 0, 1: 1}.get(mode, int(self._get("AcquisitionFrameCount"))),
            triggered=triggered,
            extended_ids=self.config.extended_ids,
            pixel_format=fmt,
            link_speed_bps=self.config.link_speed_mbps * 1e6,
        )
        self._set("TLParamsLocked", 1)
        self._source.restart()
        self.streamer.start(settings)
        return Status.SUCCESS

    # -- faults ------------------------------------------------------------------------------
    def _disconnect(self) -> None:
        seconds = self._faults.disconnect_s
        self.server.silent_until = time.monotonic() + (seconds if seconds > 0 else 1e9)
        self.streamer.stop()

    def _reboot(self) -> None:
        _log.info("GigE simulator comes back after a disconnect (reboot: defaults, no controller)")
        self.server.silent_until = 0.0
        self._regs = self._new_registers()
        self.server.drop_control("reboot")

"""A USB3 Vision panel: GenCP register map (ABRM, SBRM, SIRM, manifest, features) and stream.

The device answers U3VCP commands with acknowledgements and, once triggered, turns a
:class:`~panelgate.simulators.panel.PanelModel` readout into one stream block: leader,
payload transfers cut as the host wrote into SIRM, trailer. Fault knobs: :class:`UsbFault`.

Its dose comes from the X-ray room it stands in (:mod:`panelgate.simulators.room`) or by
hand (:meth:`U3VDeviceModel.irradiate`), integrated over the window its trigger source sets
(:mod:`panelgate.simulators.dose`): ``AcquisitionStart`` arms it; with the ``software``
source ``TriggerSoftware`` ends the window after ``ExposureTime``; with ``generator`` or
``aed`` it hands the start to the room's beam (sync, dose rate).
"""

from __future__ import annotations

import enum
import io
import queue
import struct
import threading
import time
import zipfile

import numpy as np
import numpy.typing as npt

from panelgate.drivers.u3v.protocol import (
    ABRM,
    ACK_PENDING,
    CMD_READMEM,
    LEADER_SIZE,
    MONO16,
    SBRM,
    SIRM,
    TRAILER_SIZE,
    Leader,
    Trailer,
    U3VProtocolError,
    decode_command,
    encode_ack,
    encode_leader,
    encode_trailer,
)
from panelgate.simulators.dose import DoseIntake, Phantom, TriggerSource
from panelgate.simulators.panel import PanelModel, PanelSpec
from panelgate.simulators.room import Room

from .genicam_xml import FEATURE_BASE, FEATURES, genicam_xml

__all__ = ["U3VDeviceModel", "UsbFault"]

SBRM_ADDR, SIRM_ADDR, MANIFEST_ADDR, XML_ADDR = 0x1000, 0x2000, 0x3000, 0x10000
_MEMORY = 0x30000
_ALIGN_LOG2 = 3


class UsbFault(enum.Enum):
    """Faults of the simulated USB panel; each shows once, except UNPLUG (until replugged)."""

    NONE = "none"
    STALL = "stall"  #: the control endpoint stalls the next command (EPIPE)
    HALT = "halt"  #: the stream endpoint halts at the next block (EPIPE until clear_halt)
    SHORT = "short"  #: the next block's payload is cut short
    UNPLUG_MID_FRAME = "unplug"  #: the device goes away after the next block's first transfer
    DROP_ACK = "drop-ack"  #: the next acknowledgement is lost (the host resends)
    PENDING_ACK = "pending-ack"  #: the next acknowledgement is preceded by PENDING_ACK


class U3VDeviceModel:
    """Registers, GenCP and the stream of one simulated U3V panel.

    Parameters
    ----------
    spec : PanelSpec
        The panel's physics and identity.
    seed : int
        Seed of the panel model.
    readout_s : float
        Readout time after the integration window, seconds.
    zip_xml : bool
        Serve the GenICam XML zipped (manifest schema 1).
    trigger : TriggerSource
        What starts the integration (:mod:`panelgate.simulators.dose`).
    room : Room, optional
        The X-ray room the panel stands in.
    phantom : numpy.ndarray or PlacedPhantom, optional
        What stands in the room's beam (None: open field; see SimulatedDetector).
    """

    def __init__(
        self,
        spec: PanelSpec,
        seed: int = 0,
        readout_s: float = 0.0,
        zip_xml: bool = False,
        *,
        trigger: TriggerSource = TriggerSource.SOFTWARE,
        room: Room | None = None,
        phantom: Phantom | None = None,
    ) -> None:
        self.spec = spec
        self.trigger_source = trigger
        self.intake = DoseIntake(
            room, phantom, panel=(spec.height, spec.width, spec.pixel_pitch_mm)
        )
        self._armed_mono_s = 0.0
        self.panel = PanelModel(spec, seed)
        self.readout_s = readout_s
        self.zip_xml = zip_xml
        self.fault = UsbFault.NONE
        self.plugged = True
        self.halted = False
        self.acks: queue.Queue[bytes] = queue.Queue()
        self.stream: queue.Queue[bytes] = queue.Queue()
        self._mem = bytearray(_MEMORY)
        self._block_id = 0
        self._armed = False
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._init_registers()

    # -- registers ----------------------------------------------------------------------------
    def _put(self, address: int, fmt: str, value: object) -> None:
        struct.pack_into(fmt, self._mem, address, value)

    def _get(self, address: int, fmt: str) -> float:
        return struct.unpack_from(fmt, self._mem, address)[0]  # type: ignore[no-any-return]

    def _init_registers(self) -> None:
        s = self.spec
        for addr, text in (
            (ABRM.MANUFACTURER, "panelgate simulator"), (ABRM.MODEL, s.model),
            (ABRM.VERSION, "u3v-sim-1"), (ABRM.SERIAL, s.serial),
        ):  # fmt: skip
            self._mem[addr : addr + 64] = text.encode("ascii")[:63].ljust(64, b"\0")
        self._put(ABRM.MAX_RESPONSE_MS, "<I", 200)
        self._put(ABRM.MANIFEST_ADDRESS, "<Q", MANIFEST_ADDR)
        self._put(ABRM.SBRM_ADDRESS, "<Q", SBRM_ADDR)
        self._put(SBRM_ADDR + SBRM.MAX_CMD_TRANSFER, "<I", 1024)
        self._put(SBRM_ADDR + SBRM.MAX_ACK_TRANSFER, "<I", 1024)
        self._put(SBRM_ADDR + SBRM.SIRM_ADDRESS, "<Q", SIRM_ADDR)
        self._put(SIRM_ADDR + SIRM.INFO, "<I", _ALIGN_LOG2 << 24)
        self._put(SIRM_ADDR + SIRM.REQUIRED_LEADER, "<I", LEADER_SIZE)
        self._put(SIRM_ADDR + SIRM.REQUIRED_TRAILER, "<I", TRAILER_SIZE)
        xml = genicam_xml().encode()
        schema = 0
        if self.zip_xml:  # manifest schema bits 10-14 = 1: a zip holding the XML
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("panel.xml", xml)
            xml, schema = buffer.getvalue(), 1 << 10
        self._mem[XML_ADDR : XML_ADDR + len(xml)] = xml
        self._put(MANIFEST_ADDR, "<Q", 1)
        struct.pack_into(
            "<IIQQ", self._mem, MANIFEST_ADDR + 8, 0x01000000, schema, XML_ADDR, len(xml)
        )
        for name, value in (
            ("WidthMax", s.width), ("HeightMax", s.height), ("Width", s.width),
            ("Height", s.height), ("ExposureTime", 100000.0), ("DeviceTemperature", 31.5),
            ("PanelPixelPitch", s.pixel_pitch_mm), ("PanelCountsPerUgy", s.counts_per_ugy),
        ):  # fmt: skip
            offset, kind, _ = FEATURES[name]
            self._put(FEATURE_BASE + offset, "<I" if kind == "int" else "<d", value)
        self._update_payload()

    def _feature(self, name: str) -> float:
        offset, kind, _ = FEATURES[name]
        return self._get(FEATURE_BASE + offset, "<I" if kind == "int" else "<d")

    def _update_payload(self) -> None:
        size = int(self._feature("Width")) * int(self._feature("Height")) * 2
        self._put(SIRM_ADDR + SIRM.REQUIRED_PAYLOAD, "<Q", size)

    # -- control ------------------------------------------------------------------------------
    def command(self, data: bytes) -> None:
        """Take one U3VCP command; its acknowledgement(s) go to :attr:`acks`."""
        try:
            cmd = decode_command(data)
        except U3VProtocolError:
            return
        fault = self.fault
        if fault in (UsbFault.DROP_ACK, UsbFault.PENDING_ACK):
            self.fault = UsbFault.NONE
        if fault is UsbFault.DROP_ACK:
            return
        if fault is UsbFault.PENDING_ACK:
            self.acks.put(encode_ack(0, ACK_PENDING, cmd.request_id, struct.pack("<HH", 0, 300)))
        end = cmd.address + (cmd.size if cmd.command == CMD_READMEM else len(cmd.data))
        if end > _MEMORY:
            self.acks.put(encode_ack(0x8003, cmd.command + 1, cmd.request_id))
            return
        if cmd.command == CMD_READMEM:
            payload = bytes(self._mem[cmd.address : end])
        else:
            self._mem[cmd.address : end] = cmd.data
            self._on_write(cmd.address)
            payload = struct.pack("<HH", 0, len(cmd.data))
        self.acks.put(encode_ack(0, cmd.command + 1, cmd.request_id, payload))

    def _on_write(self, address: int) -> None:
        offset = address - FEATURE_BASE
        if offset in (FEATURES["Width"][0], FEATURES["Height"][0]):
            self._update_payload()
        elif offset == FEATURES["AcquisitionStart"][0]:
            self._armed = True
            self._armed_mono_s = time.monotonic()
            self.intake.reset(self._armed_mono_s)
        elif offset == FEATURES["AcquisitionStop"][0]:
            self._stop()
        elif offset == FEATURES["TriggerSoftware"][0] and self._armed:
            self._armed = False
            self._cancel.clear()
            args = (self._armed_mono_s, time.monotonic())
            threading.Thread(target=self._readout, args=args, daemon=True).start()
        elif address == SIRM_ADDR + SIRM.CONTROL and not self._get(address, "<I"):
            self._stop()
        if offset in (
            FEATURES[n][0] for n in ("AcquisitionStart", "AcquisitionStop", "TriggerSoftware")
        ):
            self._put(address, "<I", 0)  # command registers read back 0: done

    def _stop(self) -> None:
        self._armed = False
        self._cancel.set()
        while not self.stream.empty():
            self.stream.get_nowait()

    # -- stream -------------------------------------------------------------------------------
    def irradiate(
        self, air_kerma_ugy: float, transmission: npt.NDArray[np.float32] | None = None
    ) -> None:
        """Deliver dose now from the simulator's calibration source (see SimulatedDetector)."""
        self.intake.inject(air_kerma_ugy, transmission)

    def _readout(self, armed_mono_s: float, triggered_mono_s: float) -> None:
        window = self.intake.window(
            self.trigger_source,
            armed_mono_s=armed_mono_s,
            triggered_mono_s=triggered_mono_s,
            exposure_s=self._feature("ExposureTime") / 1e6,
            cancel=self._cancel,
        )
        if window is None or self._cancel.wait(self.readout_s):
            return
        dose = self.intake.dose(*window)
        full = self.panel.read(dose.air_kerma_ugy, dose.transmission) if dose else self.panel.read()
        w, h = int(self._feature("Width")), int(self._feature("Height"))
        payload = np.ascontiguousarray(full[:h, :w]).tobytes()
        if not self._get(SIRM_ADDR + SIRM.CONTROL, "<I") or self._cancel.is_set():
            return
        self._block_id += 1
        for chunk in self._block(payload):
            if not self.plugged or self._cancel.is_set():
                return
            self.stream.put(chunk)

    def _block(self, payload: bytes) -> list[bytes]:
        size, count, t1 = (
            int(self._get(SIRM_ADDR + off, "<I"))
            for off in (SIRM.PAYLOAD_SIZE, SIRM.PAYLOAD_COUNT, SIRM.TRANSFER1)
        )
        fault = self.fault
        if fault in (UsbFault.SHORT, UsbFault.HALT, UsbFault.UNPLUG_MID_FRAME):
            self.fault = UsbFault.NONE
        if fault is UsbFault.SHORT:
            payload = payload[: len(payload) // 2 + 10]
        chunks = [payload[i * size : (i + 1) * size] for i in range(count)]
        if t1:
            chunks.append(payload[count * size :])
        chunks = [c for c in chunks if c]
        leader = encode_leader(
            Leader(self._block_id, 1, time.monotonic_ns(), MONO16,
                   int(self._feature("Width")), int(self._feature("Height")))
        )  # fmt: skip
        trailer = encode_trailer(Trailer(self._block_id, 0, len(payload)))
        if fault is UsbFault.HALT:
            self.halted = True
        if fault is UsbFault.UNPLUG_MID_FRAME:
            return [leader, chunks[0], b"UNPLUG"]
        return [leader, *chunks, trailer]

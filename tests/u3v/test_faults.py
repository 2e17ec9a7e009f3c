"""The U3V driver, unchanged, against the simulated panel's pyusb backend, with faults."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from panelgate.drivers import DetectorState, InvalidSetting, ReadoutMode, TransportError
from panelgate.drivers.u3v import EndpointHalted, IncompleteBlock, U3VDetector
from panelgate.simulators import PanelSpec
from panelgate.simulators.usb import SimulatedUsbBackend, U3VDeviceModel, UsbFault, open_usb_sim
from panelgate.simulators.usb.backend import PID, VID

MODE = ReadoutMode(width=128, height=96, exposure_s=0.01)


@pytest.fixture
def det() -> Iterator[U3VDetector]:
    d = open_usb_sim("usb://sim?width=128&height=96&seed=1")
    d.connect()
    d.configure(MODE)
    yield d
    d.close()


def _device(d: U3VDetector) -> U3VDeviceModel:
    return d.simulated_device  # type: ignore[attr-defined, no-any-return]


def _cycle(d: U3VDetector) -> int:
    d.arm()
    d.trigger()
    return d.read_frame(2).meta.frame_id


def test_request_ids_wrap_around_16_bits(det: U3VDetector) -> None:
    for _ in range(300):
        det.status()
    assert det.counters()["commands"] > 300
    assert _cycle(det) >= 1


def test_block_split_in_transfers(det: U3VDetector) -> None:
    _cycle(det)
    counters = det.counters()
    assert counters["blocks"] == 1 and counters["bytes"] >= 128 * 96 * 2


def test_dropped_ack_is_resent(det: U3VDetector) -> None:
    _device(det).fault = UsbFault.DROP_ACK
    assert det.status().temp_c == pytest.approx(31.5)
    assert det.counters()["resends"] == 1


def test_pending_ack_extends_the_wait(det: U3VDetector) -> None:
    _device(det).fault = UsbFault.PENDING_ACK
    det.status()
    assert det.counters()["pending_acks"] == 1


def test_control_stall_is_a_transport_error_then_works(det: U3VDetector) -> None:
    _device(det).fault = UsbFault.STALL
    with pytest.raises(TransportError, match="USB error"):
        det.status()
    assert _cycle(det) >= 1


def test_halted_stream_is_cleared_and_reported(det: U3VDetector) -> None:
    _device(det).fault = UsbFault.HALT
    det.arm()
    det.trigger()
    with pytest.raises(EndpointHalted, match="cleared"):
        det.read_frame(2)
    det.abort()
    assert det.counters()["halts_cleared"] == 1
    assert _cycle(det) >= 2


def test_short_transfer_is_an_incomplete_block(det: U3VDetector) -> None:
    _device(det).fault = UsbFault.SHORT
    det.arm()
    det.trigger()
    with pytest.raises(IncompleteBlock, match="received"):
        det.read_frame(2)
    det.abort()
    assert _cycle(det) >= 2


def test_unplug_mid_frame_is_a_transport_error_and_replug_recovers(det: U3VDetector) -> None:
    device = _device(det)
    device.fault = UsbFault.UNPLUG_MID_FRAME
    det.arm()
    det.trigger()
    start = time.monotonic()
    with pytest.raises(TransportError, match="gone"):
        det.read_frame(2)
    assert time.monotonic() - start < 2
    with pytest.raises(TransportError, match="gone"):
        det.abort()
    with pytest.raises(TransportError, match="gone"):
        det.close()  # the abort inside close() fails; the detector is released all the same
    assert det.status().state is DetectorState.DISCONNECTED
    with pytest.raises(TransportError, match="no USB3 Vision device"):
        det.connect()
    device.plugged = True
    det.connect()
    det.configure(MODE)
    assert _cycle(det) >= 1


def test_no_frame_times_out(det: U3VDetector) -> None:
    det.arm()
    det.trigger()
    _device(det)._cancel.set()  # the readout is lost inside the device
    time.sleep(0.05)
    with pytest.raises(TimeoutError):
        det.read_frame(0.2)
    assert det.status().state is DetectorState.ACQUIRING
    det.abort()
    assert _cycle(det) >= 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("usb://12:34", "usb://VID:PID"),
        ("usb://zzzz:0001", "usb://VID:PID"),
        ("gige://x", "usb://"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(InvalidSetting, match=message):
        U3VDetector.from_url(url)


def test_url_parsing() -> None:
    det = U3VDetector.from_url("usb://1d6b:0105/SN-9")
    assert (det.vid, det.pid, det.serial) == (0x1D6B, 0x0105, "SN-9")


def test_serial_selects_the_device() -> None:
    sim = open_usb_sim("usb://sim?width=64&height=64&serial=SN-9")
    right = U3VDetector.from_url("usb://1d6b:0105/SN-9", backend=sim.backend)
    assert right.connect().serial == "SN-9"
    right.close()
    wrong = U3VDetector.from_url("usb://1d6b:0105/OTHER", backend=sim.backend)
    with pytest.raises(TransportError, match="OTHER"):
        wrong.connect()


def test_bad_sim_urls() -> None:
    with pytest.raises(InvalidSetting, match="unknown usb://sim parameter"):
        open_usb_sim("usb://sim?depth=3")
    with pytest.raises(InvalidSetting, match="not a simulated"):
        open_usb_sim("usb://1234:5678")


def test_zipped_genicam_xml_loads() -> None:
    device = U3VDeviceModel(PanelSpec(width=64, height=64, serial="ZIP-1"), zip_xml=True)
    det = U3VDetector(VID, PID, backend=SimulatedUsbBackend(device))
    with det:
        assert det.info.serial == "ZIP-1"
        assert det.sensor_size == (64, 64)

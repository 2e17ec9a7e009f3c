"""GigE pieces that need no network: XML + GenApi, register checks, faults, URLs, CLI values."""

from __future__ import annotations

import struct
import time
from typing import Any

import pytest
from genicam import genapi

from panelgate.acquisition.cli import main
from panelgate.drivers import InvalidSetting
from panelgate.drivers.gige import GigEDetector
from panelgate.drivers.gige import bootstrap as bs
from panelgate.drivers.gige.errors import ProtocolError
from panelgate.drivers.gige.features import parse_xml_url
from panelgate.drivers.gige.gvcp import Status
from panelgate.simulators.gige import FaultPlan, SimulatorConfig, parse_fault
from panelgate.simulators.gige.features import XML_ADDRESS, feature, genicam_xml
from panelgate.simulators.gige.pacing import ETHERNET_OVERHEAD_BYTES, LinkPacer
from panelgate.simulators.gige.registers import DeviceIdentity, RegisterSpace
from panelgate.simulators.gige.streamer import _FrameClock


def _space() -> RegisterSpace:
    xml = genicam_xml("M", "V").encode()

    def accept(address: int, raw: bytes) -> int:
        space.commit(address, raw)
        return Status.SUCCESS

    space = RegisterSpace(DeviceIdentity(), xml, accept)
    return space


class _MemoryPort(genapi.AbstractPort):  # type: ignore[misc]
    def __init__(self, space: RegisterSpace) -> None:
        super().__init__()
        self.space = space

    def get_access_mode(self) -> Any:
        return genapi.EAccessMode.RW

    def read(self, address: int, size: int) -> bytes:
        return self.space.read(address, size)

    def write(self, address: int, value: bytes) -> None:
        assert self.space.write(address, bytes(value)) == Status.SUCCESS


def test_the_xml_is_served_and_genapi_drives_the_registers() -> None:
    space = _space()
    url = space.read(bs.REG_XML_URL_0, 512).split(b"\0")[0].decode()
    name, address, size = parse_xml_url(url)
    assert (name, address) == ("panelgate.xml", XML_ADDRESS)
    node_map = genapi.NodeMap()
    node_map.load_xml_from_string(space.read(address, size).decode())
    port = _MemoryPort(space)
    node_map.connect(port, "Device")
    space.set_feature(feature("WidthMax"), 3072)
    node_map.get_node("Width").value = 1024
    node_map.get_node("PixelFormat").value = "Mono14"
    node_map.get_node("ExposureTime").value = 25000.0
    assert space.get_feature(feature("Width")) == 1024
    assert space.get_feature(feature("PixelFormat")) == 0x01100025
    assert space.get_feature(feature("ExposureTime")) == 25000.0
    node_map.get_node("GevSCPSPacketSize").value = 8192
    assert space.u32(bs.REG_SCPS0) & 0xFFFF == 8192
    assert node_map.get_node("DeviceVendorName").value == "panelgate"
    names = ("TriggerSoftware", "AcquisitionStart", "PanelGainMode", "PanelAEDEnable",
             "BinningHorizontal", "DeviceTemperature", "GevSCPD", "OffsetX", "OffsetY")  # fmt: skip
    for name in names:
        assert node_map.has_node(name), name


def test_register_write_checks() -> None:
    space = _space()
    assert space.write(bs.REG_MODEL_NAME, b"\0" * 4) == Status.WRITE_PROTECT
    assert space.write(0x0A02, b"\0" * 4) == Status.BAD_ALIGNMENT
    assert space.write(0x0009_0000, b"\0" * 4) == Status.INVALID_ADDRESS
    assert space.write(XML_ADDRESS, b"\0" * 4) == Status.WRITE_PROTECT
    assert space.write(feature("PayloadSize").address, b"\0" * 4) == Status.WRITE_PROTECT
    assert space.check_read(0x00F0_0000, 4) == Status.INVALID_ADDRESS
    assert space.write(bs.REG_CCP, struct.pack(">I", 2)) == Status.SUCCESS


def test_faults_parse_and_validate() -> None:
    plan = parse_fault("burst:every=5,packets=20", FaultPlan(loss_ratio=0.01))
    plan = parse_fault("disconnect:after=3,seconds=2", plan)
    assert (plan.loss_ratio, plan.burst_every_frames, plan.burst_packets) == (0.01, 5, 20)
    assert (plan.disconnect_after_frames, plan.disconnect_s) == (3, 2.0)
    assert parse_fault("temperature:celsius=-5").temperature_c == -5.0
    for text, message in [
        ("meteor:after=1", "unknown fault"),
        ("stall:seconds=1", "needs after=N"),
        ("stall:after=x", "not a number"),
        ("corrupt:ratio=2", r"\[0, 1\)"),
        ("burst:every=5,size=3", "takes every=N"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_fault(text)


def test_xml_urls_are_parsed_tolerantly() -> None:
    assert parse_xml_url("Local:gigecamsim.xml; F000; 2B39") == ("gigecamsim.xml", 0xF000, 0x2B39)
    assert parse_xml_url("local:a.zip;0x100;0x20?SchemaVersion=1.0") == ("a.zip", 0x100, 0x20)
    for bad in ("File:/tmp/x.xml", "http://x/y.xml", "Local:x.xml;100", "Local:x.xml;100;0"):
        with pytest.raises(ProtocolError):
            parse_xml_url(bad)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sim://?width=64", "not a GigE URL"),
        ("gige://", "not a GigE URL"),
        ("gige://10.0.0.2?packet=1", "unknown GigE parameter"),
        ("gige://10.0.0.2?packet_size=abc", "not a number"),
        ("gige://10.0.0.2?packet_size=100", "packet_size"),
        ("gige://10.0.0.2?bits=12", "bits_stored"),
    ],
)
def test_bad_gige_urls_are_named(url: str, message: str) -> None:
    with pytest.raises(InvalidSetting, match=message):
        GigEDetector.from_url(url)


def test_good_gige_url() -> None:
    det = GigEDetector.from_url("gige://10.0.0.2:4000?packet_size=8192&bits=14")
    assert (det.config.host, det.config.port, det.config.packet_size_bytes) == (
        "10.0.0.2",
        4000,
        8192,
    )
    assert det.config.bits_stored == 14 and det.config.extended_ids is False
    assert GigEDetector.from_url("gige://10.0.0.2?extended_ids=1").config.extended_ids is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--address", "nowhere"], "IPv4"),
        (["--address", "127.0.0.1", "--width", "8"], "32-8192"),
        (["--address", "127.0.0.1", "--loss-ratio", "1.5"], "ratio"),
        (["--address", "127.0.0.1", "--fault", "meteor:after=1"], "unknown fault"),
        (["--address", "127.0.0.1", "--port", "70000"], "port"),
    ],
)
def test_bad_simulate_gige_values_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "gige", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_link_pacer_sends_no_faster_than_the_link() -> None:
    pacer = LinkPacer(100e6, burst_bytes=10_000)  # 100 Mb/s: 1,500 wire bytes take 120 µs
    start = time.perf_counter()
    for _ in range(100):
        pacer.wait(1500 - ETHERNET_OVERHEAD_BYTES)
    # 100 packets of 1,500 wire bytes, less the 10 kB the sender may run ahead: >= 11.2 ms
    assert time.perf_counter() - start >= (100 * 1500 - 10_000) * 8 / 100e6
    with pytest.raises(ValueError, match="link speed"):
        LinkPacer(-1)
    with pytest.raises(ValueError, match="link_speed_mbps"):
        SimulatorConfig(link_speed_mbps=-1)


def test_a_late_frame_is_not_followed_back_to_back() -> None:
    clock = _FrameClock(10.0)
    assert clock.next_t - time.monotonic() <= 0.1  # the first integration window
    time.sleep(0.3)  # the frame went out 0.2 s late
    clock.frame_sent()
    assert clock.next_t - time.monotonic() >= 0.05 - 0.001  # half a period, not at once
    on_time = clock.next_t
    clock.frame_sent()
    assert clock.next_t == pytest.approx(on_time + 0.1)  # then the regular period again

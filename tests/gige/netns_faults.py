"""Faults on the wire: loss and resends, lost link, lost privilege, error acknowledges.

Runs inside a loopback-only namespace (see conftest.py).
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterator

import pytest

from panelgate.drivers import ReadoutMode, TransportError
from panelgate.drivers.gige import (
    GigEDetector,
    GvcpClient,
    GvcpStatusError,
    GvcpTiming,
    discover,
    gvcp,
)
from panelgate.drivers.gige import bootstrap as bs
from panelgate.drivers.gige.gvcp import Status
from panelgate.simulators.gige import FaultPlan, GigESimulator, SimulatorConfig
from panelgate.simulators.gige.features import feature


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _grab(det: GigEDetector, n: int, timeout_s: float = 10) -> list[int]:
    ids = []
    for _ in range(n):
        det.arm()
        det.trigger()
        ids.append(det.read_frame(timeout_s).meta.frame_id)
    return ids


@pytest.fixture
def simulator() -> Iterator[GigESimulator]:
    with GigESimulator(SimulatorConfig(port=0, width=256, height=128)) as sim:
        yield sim


def test_with_one_percent_loss_every_frame_arrives_complete_through_resends(
    gige_simulator: Callable[..., object],
) -> None:
    gige_simulator("--width", "3072", "--height", "3072", "--loss-ratio", "0.01")
    with GigEDetector.from_url("gige://127.0.0.1?packet_size=8192") as det:
        det.configure(ReadoutMode(3072, 3072, exposure_s=0.01))
        ids = _grab(det, 10)
        counters = det.counters()
    assert len(set(ids)) == 10
    assert counters["frames_completed"] == 10
    assert counters.get("frames_incomplete", 0) == 0
    assert counters["packets_resent"] > 0
    assert counters["resend_requests"] > 0


def test_killed_simulator_is_a_clear_error_and_a_restart_reconnects(
    gige_simulator: Callable[..., object],
) -> None:
    sim = gige_simulator("--width", "1024", "--height", "1024")
    det = GigEDetector.from_url("gige://127.0.0.1")
    det.connect()
    try:
        det.configure(ReadoutMode(512, 256, exposure_s=0.01))
        _grab(det, 1)
        heartbeat_timeout_s = det.features.get("GevHeartbeatTimeout") / 1000  # type: ignore[operator]
        det.arm()
        det.trigger()
        sim.stop(kill=True)  # type: ignore[attr-defined]
        with pytest.raises(TransportError, match=r"gige://127\.0\.0\.1"):
            for _ in range(1000):  # frames already in flight may still arrive
                det.read_frame(timeout_s=heartbeat_timeout_s)
                det.arm()
                det.trigger()
        det.abort()
        gige_simulator("--width", "1024", "--height", "1024")
        assert _wait_until(lambda: det.counters()["reconnects"] >= 1, 10 * heartbeat_timeout_s)
        assert det.features.get("Width") == 512  # restored on the new device
        det.arm()
        det.trigger()
        assert det.read_frame(timeout_s=5).pixels.shape == (256, 512)
    finally:
        det.close()


def test_disconnect_mid_frame_then_reboot_restores_configuration() -> None:
    plan = FaultPlan(disconnect_after_frames=2, disconnect_s=1.0)
    with GigESimulator(SimulatorConfig(port=0, width=256, height=256), plan) as sim:
        sim.server.counters.clear()
        det = GigEDetector.from_url(f"gige://127.0.0.1:{sim.port}")
        det.connect()
        try:
            det.features.set("GevHeartbeatTimeout", 600)
            det.configure(ReadoutMode(128, 64, exposure_s=0.01))
            _grab(det, 1)
            sim.set_faults(plan)
            det.arm()
            det.trigger()
            with pytest.raises(TransportError):
                det.read_frame(timeout_s=30)
            det.abort()
            assert _wait_until(lambda: det.counters()["reconnects"] >= 1, 20)
            assert det.features.get("Width") == 128  # the reboot reset it; the driver restored it
            assert _grab(det, 1)
        finally:
            det.close()


def test_heartbeat_loss_fault_drops_control_and_the_driver_takes_it_back(
    simulator: GigESimulator,
) -> None:
    det = GigEDetector.from_url(f"gige://127.0.0.1:{simulator.port}")
    det.connect()
    try:
        det.configure(ReadoutMode(256, 128, exposure_s=0.01))
        simulator.set_faults(FaultPlan(heartbeat_loss_after_s=0.2))
        assert _wait_until(lambda: det.counters()["reconnects"] >= 1, 15)
        simulator.set_faults(FaultPlan())
        assert _wait_until(lambda: det._lost_reason() is None, 15)
        assert _grab(det, 1)
    finally:
        det.close()


def test_error_acknowledges(simulator: GigESimulator) -> None:
    ours = GvcpClient("127.0.0.1", simulator.port)
    other = GvcpClient("127.0.0.1", simulator.port)
    try:
        ours.write_register(bs.REG_CCP, bs.CCP_CONTROL)
        cases = [
            (lambda: other.write_register(bs.REG_CCP, bs.CCP_CONTROL), Status.ACCESS_DENIED),
            (lambda: other.write_register(feature("Width").address, 64), Status.ACCESS_DENIED),
            (lambda: ours.read_memory(0x00F0_0000, 4), Status.INVALID_ADDRESS),
            (lambda: ours.write_register(bs.REG_MODEL_NAME, 1), Status.WRITE_PROTECT),
            (lambda: ours.write_register(feature("WidthMax").address, 1), Status.WRITE_PROTECT),
            (
                lambda: ours.write_register(feature("Width").address, 99999),
                Status.INVALID_PARAMETER,
            ),
            (lambda: ours.transact(gvcp.Command.ACTION, b"\0" * 12), Status.NOT_IMPLEMENTED),
        ]
        for call, status in cases:
            with pytest.raises(GvcpStatusError) as excinfo:
                call()
            assert excinfo.value.status == status, status.name
        assert other.read_register(feature("Width").address) == 256  # reads are open to all
        # BUSY: geometry is locked while the device streams.
        ip = struct.unpack(">I", socket.inet_aton("127.0.0.1"))[0]
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        ours.write_registers([(bs.REG_SCDA0, ip), (bs.REG_SCP0, sink.getsockname()[1])])
        ours.write_register(feature("AcquisitionStart").address, 1)
        with pytest.raises(GvcpStatusError) as excinfo:
            ours.write_register(feature("Width").address, 128)
        assert excinfo.value.status == Status.BUSY
        ours.write_register(feature("AcquisitionStop").address, 1)
        sink.close()
    finally:
        ours.close()
        other.close()


def test_bad_alignment_and_malformed_datagrams(simulator: GigESimulator) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.connect(("127.0.0.1", simulator.port))
        sock.send(gvcp.encode_command(gvcp.Command.READREG, 7, struct.pack(">I", 0x0002)))
        ack = gvcp.decode_ack(sock.recv(2048))
        assert ack.status == Status.BAD_ALIGNMENT and ack.ack_id == 7
        for junk in (b"", b"\x42", b"\x00" * 8, b"\x42\x01\x00\x80\x00\x10\x00\x01"):
            sock.send(junk)
    client = GvcpClient("127.0.0.1", simulator.port)
    try:
        assert client.read_register(bs.REG_VERSION) >> 16 == 2  # still answering
    finally:
        client.close()
    assert simulator.counters()["malformed"] >= 3


def test_pending_ack_extends_the_wait_instead_of_a_resend(simulator: GigESimulator) -> None:
    client = GvcpClient("127.0.0.1", simulator.port, GvcpTiming(ack_timeout_s=0.1, retries=1))
    try:
        client.write_register(bs.REG_CCP, bs.CCP_CONTROL)
        simulator.set_faults(FaultPlan(pending_ms=300))
        client.write_register(feature("Width").address, 128)
        assert client.counters["pending_acks"] == 1
        assert client.read_register(feature("Width").address) == 128
    finally:
        simulator.set_faults(FaultPlan())
        client.close()


def test_heartbeat_timeout_frees_the_device_for_another_host(simulator: GigESimulator) -> None:
    first = GvcpClient("127.0.0.1", simulator.port)
    second = GvcpClient("127.0.0.1", simulator.port)
    try:
        first.write_register(bs.REG_HEARTBEAT_TIMEOUT, 0)  # refused: not the controller
    except GvcpStatusError as exc:
        assert exc.status == Status.ACCESS_DENIED
    try:
        first.write_register(bs.REG_CCP, bs.CCP_CONTROL)
        first.write_register(bs.REG_HEARTBEAT_TIMEOUT, 200)
        # first goes quiet; the device must drop it and accept second
        assert _wait_until(lambda: _try_take(second), 10)
    finally:
        first.close()
        second.close()


def _try_take(client: GvcpClient) -> bool:
    try:
        client.write_register(bs.REG_CCP, bs.CCP_CONTROL)
    except GvcpStatusError:
        return False
    return True


def test_unicast_discovery_describes_the_device(simulator: GigESimulator) -> None:
    found = discover("127.0.0.1", simulator.port)
    assert [(d.ip, d.serial, d.manufacturer) for d in found] == [
        ("127.0.0.1", "SIM-0001", "panelgate")
    ]


def test_temperature_excursion_is_reported(simulator: GigESimulator) -> None:
    with GigEDetector.from_url(f"gige://127.0.0.1:{simulator.port}") as det:
        simulator.set_faults(FaultPlan(temperature_c=55.0))
        assert _wait_until(lambda: det.status().temp_c == 55.0, 5)


def test_burst_loss_corruption_and_stalls_are_recovered(simulator: GigESimulator) -> None:
    plan = FaultPlan(
        burst_every_frames=2, burst_packets=5, corrupt_ratio=0.02, stall_after_frames=3, stall_s=0.3
    )
    simulator.set_faults(plan)
    with GigEDetector.from_url(f"gige://127.0.0.1:{simulator.port}") as det:
        det.configure(ReadoutMode(256, 128, exposure_s=0.01))
        assert len(set(_grab(det, 6))) == 6
        counters = det.counters()
    sent = simulator.counters()
    assert sent["packets_dropped"] >= 15 and sent["packets_corrupted"] > 0
    assert counters["packets_resent"] > 0
    assert counters.get("frames_incomplete", 0) == 0


def test_a_receive_buffer_smaller_than_a_frame_is_warned_about(
    simulator: GigESimulator, caplog: pytest.LogCaptureFixture
) -> None:
    from panelgate.drivers.gige.receiver import (  # noqa: PLC0415
        GvspReceiver,
        ReceiverPolicy,
        StreamGeometry,
    )

    geometry = StreamGeometry(2048, 2048, 1500)
    with caplog.at_level("WARNING", logger="panelgate.drivers.gige.receiver"):
        receiver = GvspReceiver(
            "127.0.0.1", geometry, lambda _: None, ReceiverPolicy(socket_buffer_bytes=1 << 16)
        )
    receiver.close()
    assert receiver.receive_buffer_bytes < geometry.payload_bytes
    assert "net.core.rmem_max" in caplog.text


def test_extended_ids_stream_and_resend() -> None:
    config = SimulatorConfig(port=0, width=256, height=128, extended_ids=True)
    with GigESimulator(config, FaultPlan(loss_ratio=0.02)) as sim:
        url = f"gige://127.0.0.1:{sim.port}?extended_ids=1"
        with GigEDetector.from_url(url) as det:
            det.configure(ReadoutMode(256, 128, exposure_s=0.01))
            assert len(set(_grab(det, 5))) == 5
            counters = det.counters()
    assert counters["packets_resent"] > 0
    assert counters.get("frames_incomplete", 0) == 0

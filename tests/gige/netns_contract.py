"""The Detector contract (as in tests/contract/) against gige://, and ``panelgate grab`` over it.

Runs inside a loopback-only namespace (see conftest.py); the device is panelgate's own
GigE simulator, in-process on a free port.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from panelgate.acquisition.cli import main
from panelgate.drivers import (
    DetectorState,
    DetectorTimeout,
    IncompatibleState,
    InvalidSetting,
    ReadoutMode,
)
from panelgate.drivers.gige import GigEDetector, GvcpClient
from panelgate.drivers.gige import bootstrap as bs
from panelgate.simulators.gige import FaultPlan, GigESimulator, SimulatorConfig

MODE = ReadoutMode(width=64, height=48, exposure_s=0.01)


@pytest.fixture
def simulator() -> Iterator[GigESimulator]:
    with GigESimulator(SimulatorConfig(port=0, width=64, height=48, serial="SN-42", seed=3)) as sim:
        yield sim


@pytest.fixture
def detector(simulator: GigESimulator) -> Iterator[GigEDetector]:
    det = GigEDetector.from_url(f"gige://127.0.0.1:{simulator.port}")
    det.connect()
    det.configure(MODE)
    yield det
    det.close()


def test_identity_from_the_device(simulator: GigESimulator) -> None:
    det = GigEDetector.from_url(f"gige://127.0.0.1:{simulator.port}")
    info = det.connect()
    try:
        assert info.serial == "SN-42"
        assert info.manufacturer == "panelgate"
        assert info.pixel_pitch_mm == pytest.approx(0.139)
        assert det.status().state is DetectorState.IDLE
    finally:
        det.close()
    assert det.status().state is DetectorState.DISCONNECTED


def test_connect_enables_pending_ack_and_reads_the_pending_timeout(
    detector: GigEDetector, simulator: GigESimulator
) -> None:
    observer = GvcpClient("127.0.0.1", simulator.port)  # reads need no control privilege
    try:
        config = observer.read_register(bs.REG_GVCP_CONFIGURATION)
    finally:
        observer.close()
    assert config & bs.GVCP_CONFIG_PENDING_ACK
    assert detector._client is not None
    assert detector._client.execution_s == pytest.approx(0.1)  # Pending Timeout, 100 ms


def test_full_cycle_returns_the_devices_pixels(
    detector: GigEDetector, simulator: GigESimulator
) -> None:
    detector.arm()
    assert detector.status().state is DetectorState.ARMED
    detector.trigger()
    frame = detector.read_frame(timeout_s=5)
    assert frame.pixels.shape == (48, 64) and frame.pixels.dtype == np.uint16
    assert frame.meta.serial == "SN-42" and frame.meta.frame_id == 1
    assert frame.meta.mode.exposure_s == 0.01
    assert np.isfinite(frame.meta.temp_c)
    sent = next(reversed(simulator.streamer._retained.values())).data  # the frame on the wire
    assert frame.pixels.tobytes() == sent
    assert detector.status().state is DetectorState.IDLE
    assert detector.status().frames_read == 1
    assert detector.counters()["frames_completed"] == 1


@pytest.mark.parametrize(
    ("call", "state_word"),
    [
        (lambda d: d.trigger(), "idle"),
        (lambda d: d.read_frame(1.0), "idle"),
        (lambda d: d.connect(), "idle"),
    ],
)
def test_calls_out_of_order_are_refused(detector: GigEDetector, call, state_word: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IncompatibleState, match=state_word):
        call(detector)


def test_arm_before_configure_is_refused(simulator: GigESimulator) -> None:
    with GigEDetector.from_url(f"gige://127.0.0.1:{simulator.port}") as det:
        with pytest.raises(IncompatibleState, match="configure"):
            det.arm()


def test_read_timeout_is_a_timeout_error_and_abort_recovers(
    detector: GigEDetector, simulator: GigESimulator
) -> None:
    simulator.set_faults(FaultPlan(loss_ratio=0.99))
    detector.arm()
    detector.trigger()
    with pytest.raises(DetectorTimeout, match=r"within 0\.3 s") as excinfo:
        detector.read_frame(timeout_s=0.3)
    assert isinstance(excinfo.value, TimeoutError)
    assert detector.status().state is DetectorState.ACQUIRING
    simulator.set_faults(FaultPlan())
    detector.abort()
    assert detector.status().state is DetectorState.IDLE
    detector.arm()
    detector.trigger()
    assert detector.read_frame(timeout_s=5).pixels.shape == (48, 64)
    assert detector.counters()["timeouts"] == 1


@pytest.mark.parametrize("timeout_s", [0, -1, float("nan"), float("inf")])
def test_bad_timeouts_are_value_errors(detector: GigEDetector, timeout_s: float) -> None:
    detector.arm()
    detector.trigger()
    with pytest.raises(ValueError, match="timeout_s"):
        detector.read_frame(timeout_s)


def test_unsupported_mode_is_invalid_setting(detector: GigEDetector) -> None:
    with pytest.raises(InvalidSetting, match="64x48"):
        detector.configure(ReadoutMode(width=128, height=48))


def test_several_frames_in_a_row_have_increasing_ids(detector: GigEDetector) -> None:
    ids = []
    for _ in range(5):
        detector.arm()
        detector.trigger()
        ids.append(detector.read_frame(timeout_s=5).meta.frame_id)
    assert ids == sorted(ids) and len(set(ids)) == 5


def test_grab_over_gige_reports_the_sensor_and_the_stream_counters(
    simulator: GigESimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"gige://127.0.0.1:{simulator.port}"
    assert main(["grab", "--detector", url, "--frames", "3"]) == 0
    out = capsys.readouterr().out
    assert "grab: SN-42 mode 64x48" in out  # the matrix read from the device's WidthMax/HeightMax
    assert len([line for line in out.splitlines() if line.startswith("frame ")]) == 3
    counters = next(line for line in out.splitlines() if line.startswith("counters: "))
    assert "completed 3" in counters or "frames_completed 3" in counters, counters


def test_grab_sets_any_genicam_feature_by_name(
    simulator: GigESimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Beyond the readout mode: an integer (GevSCPD), an enumeration (PixelFormat), as typed
    # on a command line; GenApi parses each for its node type.
    url = f"gige://127.0.0.1:{simulator.port}"
    argv = ["grab", "--detector", url, "--frames", "1",
            "--set", "GevSCPD=2000", "--set", "PixelFormat=Mono14"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    # read back from the device over GVCP after the write
    assert "set GevSCPD = 2000" in out and "set PixelFormat = Mono14" in out
    # A feature the device lacks, or a value its type refuses: one line, exit 2.
    for bad, message in (("NoSuchFeature=1", "no feature 'NoSuchFeature'"),
                         ("GevSCPD=fast", "GevSCPD")):  # fmt: skip
        assert main(["grab", "--detector", url, "--set", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err

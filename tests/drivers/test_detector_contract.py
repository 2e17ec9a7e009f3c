"""The Detector contract, run against the simulated panel (sim://)."""

from __future__ import annotations

import numpy as np
import pytest

from panelgate.drivers import (
    Detector,
    DetectorState,
    DetectorTimeout,
    IncompatibleState,
    InvalidSetting,
    ReadoutMode,
)
from panelgate.simulators import Fault, SimulatedDetector

URL = "sim://?width=64&height=48&seed=3&serial=SN-42"


@pytest.fixture
def detector():  # type: ignore[no-untyped-def]
    det = SimulatedDetector.from_url(URL)
    det.connect()
    det.configure(ReadoutMode(width=64, height=48, exposure_s=0.01))
    yield det
    det.close()


def test_identity_from_url() -> None:
    det = SimulatedDetector.from_url(URL)
    info = det.connect()
    try:
        assert info.serial == "SN-42"
        assert det.status().state is DetectorState.IDLE
    finally:
        det.close()
    assert det.status().state is DetectorState.DISCONNECTED


def test_full_cycle_returns_a_frame_with_metadata(detector: Detector) -> None:
    detector.arm()
    assert detector.status().state is DetectorState.ARMED
    detector.trigger()
    frame = detector.read_frame(timeout_s=5)
    assert frame.pixels.shape == (48, 64) and frame.pixels.dtype == np.uint16
    assert frame.meta.serial == "SN-42" and frame.meta.frame_id == 1
    assert frame.meta.mode.exposure_s == 0.01
    assert detector.status().state is DetectorState.IDLE
    assert detector.status().frames_read == 1


@pytest.mark.parametrize(
    ("call", "state_word"),
    [
        (lambda d: d.trigger(), "idle"),
        (lambda d: d.read_frame(1.0), "idle"),
        (lambda d: d.connect(), "idle"),
    ],
)
def test_calls_out_of_order_are_refused(detector: Detector, call, state_word: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IncompatibleState, match=state_word):
        call(detector)


def test_arm_before_configure_is_refused() -> None:
    det = SimulatedDetector.from_url(URL)
    with det:
        with pytest.raises(IncompatibleState, match="configure"):
            det.arm()


def test_read_timeout_is_a_timeout_error_and_abort_recovers(detector: SimulatedDetector) -> None:
    detector.fault = Fault.NO_FRAME
    detector.arm()
    detector.trigger()
    with pytest.raises(DetectorTimeout, match=r"within 0\.2 s") as excinfo:
        detector.read_frame(timeout_s=0.2)
    assert isinstance(excinfo.value, TimeoutError)
    assert detector.status().state is DetectorState.ACQUIRING
    detector.abort()
    assert detector.status().state is DetectorState.IDLE
    detector.arm()
    detector.trigger()
    assert detector.read_frame(timeout_s=5).pixels.shape == (48, 64)


@pytest.mark.parametrize("timeout_s", [0, -1, float("nan"), float("inf")])
def test_bad_timeouts_are_value_errors(detector: Detector, timeout_s: float) -> None:
    detector.arm()
    detector.trigger()
    with pytest.raises(ValueError, match="timeout_s"):
        detector.read_frame(timeout_s)


def test_unsupported_mode_is_invalid_setting(detector: Detector) -> None:
    detector.close()
    detector.connect()
    with pytest.raises(InvalidSetting, match="64x48"):
        detector.configure(ReadoutMode(width=128, height=48))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gige://1.2.3.4", "not a simulator URL"),
        ("sim://?widht=5", "unknown simulator parameter"),
        ("sim://?width=abc", "width='abc'"),
        ("sim://?width=8", "32..8192"),
    ],
)
def test_bad_sim_urls_are_named(url: str, message: str) -> None:
    with pytest.raises(InvalidSetting, match=message):
        SimulatedDetector.from_url(url)


def test_dose_reaches_only_the_next_exposure(detector: SimulatedDetector) -> None:
    detector.arm()
    detector.irradiate(10.0)
    detector.trigger()
    exposed = detector.read_frame(5).pixels.astype(float).mean()
    detector.arm()
    detector.trigger()
    dark = detector.read_frame(5).pixels.astype(float).mean()
    assert exposed > dark + 10000

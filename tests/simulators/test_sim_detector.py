"""What only the simulated panel has: its URL, its identity and its injected faults.

The Detector contract itself runs over every panel in tests/contract/."""

from __future__ import annotations

import pytest

from panelgate.drivers import (
    DetectorState,
    DetectorTimeout,
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

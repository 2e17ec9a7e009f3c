"""The Detector contract, shared by every panel: sim:// and usb://sim (GigE when it lands).

Each factory returns a fresh, unconnected 64x48 detector with serial SN-42 and a way to
deliver dose to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

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
from panelgate.simulators import SimulatedDetector
from panelgate.simulators.usb import open_usb_sim

W, H = 64, 48


def _sim() -> tuple[Detector, Any]:
    det = SimulatedDetector.from_url(f"sim://?width={W}&height={H}&seed=3&serial=SN-42")
    return det, det.irradiate


def _usb() -> tuple[Detector, Any]:
    det = open_usb_sim(f"usb://sim?width={W}&height={H}&seed=3&serial=SN-42")
    return det, det.simulated_device.irradiate  # type: ignore[attr-defined]


FACTORIES: dict[str, Callable[[], tuple[Detector, Any]]] = {"sim": _sim, "usb-sim": _usb}
MODE = ReadoutMode(width=W, height=H, exposure_s=0.01)


@pytest.fixture(params=sorted(FACTORIES))
def factory(request: pytest.FixtureRequest) -> Callable[[], tuple[Detector, Any]]:
    return FACTORIES[request.param]


@pytest.fixture
def panel(factory: Callable[[], tuple[Detector, Any]]) -> Iterator[tuple[Detector, Any]]:
    det, beam = factory()
    det.connect()
    det.configure(MODE)
    yield det, beam
    det.close()


def test_connect_identifies_and_close_disconnects(
    factory: Callable[[], tuple[Detector, Any]],
) -> None:
    det, _ = factory()
    assert det.status().state is DetectorState.DISCONNECTED
    info = det.connect()
    try:
        assert info.serial == "SN-42"
        assert info.pixel_pitch_mm > 0
        assert det.status().state is DetectorState.IDLE
    finally:
        det.close()
        det.close()
    assert det.status().state is DetectorState.DISCONNECTED


def test_full_cycle(panel: tuple[Detector, Any]) -> None:
    det, _ = panel
    det.arm()
    assert det.status().state is DetectorState.ARMED
    det.trigger()
    frame = det.read_frame(timeout_s=5)
    assert frame.pixels.shape == (H, W) and frame.pixels.dtype == np.uint16
    assert frame.meta.serial == "SN-42" and frame.meta.mode == MODE
    assert det.status().state is DetectorState.IDLE
    assert det.status().frames_read == 1
    assert np.isfinite(det.status().temp_c)


def test_dose_reaches_only_the_next_exposure(panel: tuple[Detector, Any]) -> None:
    det, beam = panel
    det.arm()
    beam(10.0, None)
    det.trigger()
    exposed = det.read_frame(5).pixels.astype(float).mean()
    det.arm()
    det.trigger()
    dark = det.read_frame(5).pixels.astype(float).mean()
    assert exposed > dark + 10000


@pytest.mark.parametrize(
    "call", [lambda d: d.trigger(), lambda d: d.read_frame(1.0), lambda d: d.connect()]
)
def test_calls_out_of_order_are_refused(panel: tuple[Detector, Any], call: Any) -> None:
    with pytest.raises(IncompatibleState, match="idle"):
        call(panel[0])


def test_arm_before_configure_is_refused(factory: Callable[[], tuple[Detector, Any]]) -> None:
    det, _ = factory()
    with det:
        with pytest.raises(IncompatibleState, match="configure"):
            det.arm()


def test_no_trigger_times_out_and_abort_recovers(panel: tuple[Detector, Any]) -> None:
    det, _ = panel
    det.arm()
    det.trigger()
    det.abort()
    assert det.status().state is DetectorState.IDLE
    det.arm()
    det.trigger()
    assert det.read_frame(timeout_s=5).pixels.shape == (H, W)


@pytest.mark.parametrize("timeout_s", [0, -1, float("nan"), float("inf")])
def test_bad_timeouts_are_value_errors(panel: tuple[Detector, Any], timeout_s: float) -> None:
    det, _ = panel
    det.arm()
    det.trigger()
    with pytest.raises(ValueError, match="timeout_s"):
        det.read_frame(timeout_s)


def test_unsupported_mode_is_invalid_setting(panel: tuple[Detector, Any]) -> None:
    det, _ = panel
    with pytest.raises(InvalidSetting, match="unbinned"):
        det.configure(ReadoutMode(width=W * 2, height=H))


def test_abort_in_armed_or_acquiring_returns_to_idle(panel: tuple[Detector, Any]) -> None:
    det, _ = panel
    det.arm()
    det.trigger()
    det.read_frame(5)
    det.arm()
    det.abort()
    det.arm()
    det.trigger()
    det.abort()
    det.arm()
    det.trigger()
    frame = det.read_frame(5)
    assert frame.meta.frame_id >= 2
    with pytest.raises(IncompatibleState):
        det.read_frame(0.1)


def test_read_while_armed_is_refused_not_hung(panel: tuple[Detector, Any]) -> None:
    det, _ = panel
    det.arm()
    det.trigger()
    det.abort()
    det.arm()
    # armed but never triggered: the detector refuses to read rather than hang
    with pytest.raises(IncompatibleState, match="armed"):
        det.read_frame(0.1)
    assert issubclass(DetectorTimeout, TimeoutError)

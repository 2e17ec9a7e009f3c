"""The Detector contract's cancellable read and continuous stream, over every panel.

Here for sim:// and usb://sim; tests/gige/netns_contract.py runs these same test functions
over gige:// inside its loopback-only namespace, with its own ``panel`` and ``starve``
fixtures. ``panel`` is a connected detector configured for :data:`MODE`; ``starve(True)``
makes the panel's frames stop arriving (the readout never ends, or every packet is lost)
and ``starve(False)`` undoes it.

No timing is asserted: a cancel that did not work shows as the read's own timeout (30 s)
or as pytest's timeout, never as a duration compared with a bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from panelgate.drivers import (
    Detector,
    DetectorState,
    DetectorTimeout,
    IncompatibleState,
    ReadCancelled,
    ReadoutMode,
)
from panelgate.simulators import SimulatedDetector
from panelgate.simulators.usb import open_usb_sim

W, H = 64, 48
MODE = ReadoutMode(width=W, height=H, exposure_s=0.01)
LONG_S = 30.0  # a wait that only a working cancel ends before pytest's timeout
Starve = Callable[[bool], None]


def _sim() -> tuple[Detector, Starve]:
    det = SimulatedDetector.from_url(f"sim://?width={W}&height={H}&seed=3&serial=SN-42")

    def starve(on: bool) -> None:
        det.readout_s = 1000.0 if on else 0.0

    return det, starve


def _usb() -> tuple[Detector, Starve]:
    det = open_usb_sim(f"usb://sim?width={W}&height={H}&seed=3&serial=SN-42")
    device = det.simulated_device  # type: ignore[attr-defined]

    def starve(on: bool) -> None:
        device.readout_s = 1000.0 if on else 0.0

    return det, starve


FACTORIES: dict[str, Callable[[], tuple[Detector, Starve]]] = {"sim": _sim, "usb-sim": _usb}


@pytest.fixture(params=sorted(FACTORIES))
def _panel_and_starve(request: pytest.FixtureRequest) -> Iterator[tuple[Detector, Starve]]:
    det, starve = FACTORIES[request.param]()
    det.connect()
    det.configure(MODE)
    yield det, starve
    det.close()


@pytest.fixture
def panel(_panel_and_starve: tuple[Detector, Starve]) -> Detector:
    return _panel_and_starve[0]


@pytest.fixture
def starve(_panel_and_starve: tuple[Detector, Starve]) -> Starve:
    return _panel_and_starve[1]


def _later(action: Callable[[], object]) -> threading.Timer:
    """Run ``action`` from another thread a moment from now (the read is waiting by then)."""
    timer = threading.Timer(0.2, action)
    timer.start()
    return timer


def _cycle(det: Detector) -> int:
    det.arm()
    det.trigger()
    return det.read_frame(5).meta.frame_id


# -- cancellable read ----------------------------------------------------------------------
def test_the_callers_cancel_event_ends_a_waiting_read(panel: Detector, starve: Starve) -> None:
    starve(True)
    panel.arm()
    panel.trigger()
    cancel = threading.Event()
    _later(cancel.set)
    with pytest.raises(ReadCancelled, match="cancelled"):
        panel.read_frame(LONG_S, cancel=cancel)
    assert panel.status().state is DetectorState.ACQUIRING  # read again, or abort
    assert panel.counters().get("timeouts", 0) == 0  # a cancel is not a timeout
    starve(False)
    panel.abort()
    assert _cycle(panel) >= 1


def test_a_read_cancelled_before_it_waits_loses_no_frame(panel: Detector) -> None:
    panel.arm()
    panel.trigger()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ReadCancelled):
        panel.read_frame(5, cancel=cancel)
    frame = panel.read_frame(5)  # the frame of this exposure is still there
    assert frame.pixels.shape == (H, W)
    assert panel.status().state is DetectorState.IDLE


def test_abort_from_another_thread_ends_a_waiting_read(panel: Detector, starve: Starve) -> None:
    starve(True)
    panel.arm()
    panel.trigger()
    _later(panel.abort)
    with pytest.raises(ReadCancelled):
        panel.read_frame(LONG_S)
    assert panel.status().state is DetectorState.IDLE
    starve(False)
    assert _cycle(panel) >= 1


def test_cancel_read_ends_one_read_not_the_next(panel: Detector, starve: Starve) -> None:
    starve(True)
    panel.arm()
    panel.trigger()
    _later(panel.cancel_read)
    with pytest.raises(ReadCancelled):
        panel.read_frame(LONG_S)
    with pytest.raises(DetectorTimeout):  # the next read waits again, and times out
        panel.read_frame(0.3)
    assert panel.status().state is DetectorState.ACQUIRING
    starve(False)
    panel.abort()
    assert _cycle(panel) >= 1


# -- continuous stream -----------------------------------------------------------------------
def test_stream_delivers_count_frames_in_order_then_idle(panel: Detector) -> None:
    before = panel.status().frames_read
    with panel.stream(5, timeout_s=5) as stream:
        assert panel.status().state is DetectorState.STREAMING
        frames = list(stream)
        counters = stream.counters()
    ids = [f.meta.frame_id for f in frames]
    assert len(frames) == 5 and ids == sorted(ids) and len(set(ids)) == 5
    assert all(f.pixels.shape == (H, W) and f.meta.mode == MODE for f in frames)
    assert len({id(f.pixels) for f in frames}) == 5  # each frame owns its pixels
    assert (counters.delivered, counters.acquired, counters.dropped, counters.depth) == (5, 5, 0, 0)
    assert counters.last_latency_s >= 0
    assert panel.status().state is DetectorState.IDLE
    assert panel.status().frames_read == before + 5
    assert _cycle(panel) > ids[-1]


def test_single_frame_calls_are_refused_while_streaming(panel: Detector) -> None:
    with panel.stream(None, timeout_s=5) as stream:
        next(stream)
        for call in (
            panel.arm,
            panel.trigger,
            lambda: panel.read_frame(1.0),
            lambda: panel.configure(MODE),
            lambda: panel.stream(1),
        ):
            with pytest.raises(IncompatibleState, match="streaming"):
                call()
    assert panel.status().state is DetectorState.IDLE
    assert _cycle(panel) >= 1


def test_drop_oldest_keeps_acquiring_and_counts_what_it_drops(panel: Detector) -> None:
    with panel.stream(4, timeout_s=5, depth=1, policy="drop-oldest") as stream:
        while stream.counters().acquired < 4:  # the reader takes nothing meanwhile
            time.sleep(0.01)
        frames = list(stream)
        counters = stream.counters()
    assert len(frames) == 1
    assert (counters.acquired, counters.dropped, counters.delivered) == (4, 3, 1)


def test_block_policy_loses_nothing_to_a_slow_reader(panel: Detector) -> None:
    ids, depths = [], []
    with panel.stream(4, timeout_s=5, depth=1, policy="block") as stream:
        for frame in stream:
            time.sleep(0.05)  # a slow reader; the acquisition waits for it
            depths.append(stream.counters().depth)
            ids.append(frame.meta.frame_id)
        counters = stream.counters()
    assert len(ids) == 4 and ids == sorted(ids)
    assert max(depths) <= 1
    assert (counters.delivered, counters.dropped) == (4, 0)


def test_a_failing_acquisition_ends_the_stream_after_the_frames_before_it(
    panel: Detector, starve: Starve
) -> None:
    with panel.stream(None, timeout_s=0.3) as stream:
        first = next(stream)
        starve(True)
        with pytest.raises(DetectorTimeout):
            for frame in stream:  # frames acquired before the starvation still come first
                assert frame.meta.frame_id > first.meta.frame_id
    assert panel.status().state is DetectorState.IDLE
    starve(False)
    assert _cycle(panel) >= 1


@pytest.mark.timeout(20)
def test_closing_a_stream_cancels_the_wait_in_progress(panel: Detector, starve: Starve) -> None:
    starve(True)
    with panel.stream(None, timeout_s=60) as stream:
        assert stream.counters().acquired == 0
    assert panel.status().state is DetectorState.IDLE
    starve(False)
    assert _cycle(panel) >= 1


def test_abort_ends_a_stream_and_the_reader_is_told(panel: Detector, starve: Starve) -> None:
    starve(True)
    with panel.stream(None, timeout_s=LONG_S) as stream:
        _later(panel.abort)
        with pytest.raises(ReadCancelled):
            next(stream)
    assert panel.status().state is DetectorState.IDLE
    starve(False)
    assert _cycle(panel) >= 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0}, "count"),
        ({"depth": 0}, "depth"),
        ({"policy": "newest"}, "policy"),
        ({"timeout_s": 0.0}, "timeout_s"),
    ],
)
def test_bad_stream_arguments_are_value_errors(
    panel: Detector, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        panel.stream(**kwargs)  # type: ignore[arg-type]
    assert panel.status().state is DetectorState.IDLE

"""What starts a simulated panel's integration: software trigger, generator sync, or AED.

Issue 12: in ``aed`` the panel detects the beam by its dose rate from the room and reads
out when it ends (nobody triggers it); in ``generator`` the room's beam-on starts its
window; a beam below the AED threshold, or one that ended before the panel was armed,
starts nothing. Each for ``sim://`` and ``usb://sim``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from panelgate.drivers import Detector, DetectorTimeout, ReadoutMode
from panelgate.simulators import (
    AED_THRESHOLD_UGY_PER_S,
    BeamPulse,
    Room,
    SimulatedDetector,
    air_kerma_ugy,
)
from panelgate.simulators.generator import GeneratorSpec, InProcessGenerator
from panelgate.simulators.usb import open_usb_sim

W = H = 64
MODE = ReadoutMode(width=W, height=H, exposure_s=0.01)
FAST = GeneratorSpec(prep_s=0.02, time_scale=0.1)


def _url(scheme: str, room: Path, trigger: str) -> str:
    return f"{scheme}?width={W}&height={H}&seed=5&room={room}&trigger={trigger}"


OPEN: dict[str, Callable[[str], Detector]] = {
    "sim://": SimulatedDetector.from_url,
    "usb://sim": open_usb_sim,
}


@pytest.fixture(params=sorted(OPEN))
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _fire(room: Path, kv: float, mas: float, ma: float = 200.0) -> float:
    """Expose once with an in-process generator on ``room``; return the delivered µGy."""
    gen = InProcessGenerator(FAST, seed=3, room=Room(room))
    gen.set_technique(kv, mas, ma)
    gen.prep()
    gen.wait_ready(5.0)
    gen.expose()
    d = gen.wait_done(5.0)
    return air_kerma_ugy(d.kv, d.mas)


def _dark_mean(panel: Detector) -> npt.NDArray[np.float64]:
    panel.arm()
    panel.trigger()
    return panel.read_frame(5).pixels.astype(np.float64)


def _gain(panel: Detector, dark: npt.NDArray[np.float64]) -> float:
    """Mean counts above the dark, per µGy, of the frame that arrives now."""
    frame = panel.read_frame(5).pixels.astype(np.float64)
    return float(np.mean(frame - dark)) / panel.info.counts_per_ugy


def test_aed_reads_out_only_when_a_beam_above_threshold_arrives(
    scheme: str, tmp_path: Path
) -> None:
    room = tmp_path / "room"
    with OPEN[scheme](_url(scheme, room, "aed")) as panel:
        panel.configure(MODE)
        earlier = _fire(room, 70, 1.0)  # a beam before the panel was armed starts nothing
        assert earlier > 0
        panel.arm()
        panel.trigger()
        with pytest.raises(DetectorTimeout):
            panel.read_frame(0.3)  # no beam, no frame
        weak_rate = AED_THRESHOLD_UGY_PER_S / 4
        weak = BeamPulse(40.0, 10.0, 1000.0, 10.0, time.monotonic(), 0.05, weak_rate * 1.0)
        assert Room(room).publish(weak) == 1
        with pytest.raises(DetectorTimeout):
            panel.read_frame(0.3)  # a beam below the AED threshold is not detected
        kerma = _fire(room, 70, 1.0)
        frame = panel.read_frame(5).pixels.astype(np.float64)
        panel.abort()
        panel.arm()
        panel.irradiate(0.0)  # type: ignore[attr-defined]  # the hand source: a dark
        panel.trigger()
        dark = panel.read_frame(5).pixels.astype(np.float64)
        got = float(np.mean(frame - dark)) / panel.info.counts_per_ugy
    assert got == pytest.approx(kerma, rel=0.1), "integrated the beam it detected, no more"


def test_generator_sync_starts_a_window_that_can_cut_a_long_beam(
    scheme: str, tmp_path: Path
) -> None:
    room = tmp_path / "room"
    with OPEN[scheme](_url(scheme, room, "generator")) as panel:
        panel.configure(MODE)
        panel.arm()
        panel.irradiate(0.0)  # type: ignore[attr-defined]
        panel.trigger()
        dark = panel.read_frame(5).pixels.astype(np.float64)
        panel.arm()
        panel.trigger()
        # 10 mAs at 10 mA: 1000 ms, played in 100 ms; the 10 ms window sees a tenth of it.
        kerma = _fire(room, 60, 10.0, ma=10.0)
        got = _gain(panel, dark)
    assert got == pytest.approx(kerma * MODE.exposure_s / 0.1, rel=0.15)


def test_software_trigger_reads_what_arrived_since_arming(scheme: str, tmp_path: Path) -> None:
    room = tmp_path / "room"
    with OPEN[scheme](_url(scheme, room, "software")) as panel:
        panel.configure(MODE)
        dark = _dark_mean(panel)
        panel.arm()
        kerma = _fire(room, 70, 1.0)
        panel.trigger()
        got = _gain(panel, dark)
        panel.arm()  # arming again forgets the beam that came before
        panel.trigger()
        again = _gain(panel, dark)
    assert got == pytest.approx(kerma, rel=0.1)
    assert abs(again) < 0.02 * kerma

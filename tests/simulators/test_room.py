"""The simulated X-ray room: a generator's beam reaches the panels of its room, and only those.

Issue 12: the dose of a simulated panel comes from the simulated generator's exposure
(kV, mAs, time, start), published on the room's channel, not from the workflow's state.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from panelgate.drivers import ReadoutMode
from panelgate.drivers.generator import Delivered, GeneratorClient
from panelgate.simulators import BeamPulse, Room, SimulatedDetector, air_kerma_ugy
from panelgate.simulators.generator import GeneratorSpec, InProcessGenerator

W = H = 64
MODE = ReadoutMode(width=W, height=H, exposure_s=0.01)
FAST = GeneratorSpec(prep_s=0.02, time_scale=0.1)
CODE = "import sys; from panelgate.acquisition.cli import main; sys.exit(main(sys.argv[1:]))"


def _panel(room: Path | None, **extra: str) -> SimulatedDetector:
    query = "&".join(f"{k}={v}" for k, v in extra.items())
    where = f"&room={room}" if room is not None else ""
    return SimulatedDetector.from_url(f"sim://?width={W}&height={H}&seed=7{where}&{query}")


def _expose(gen: InProcessGenerator | GeneratorClient, kv: float, mas: float) -> Delivered:
    gen.set_technique(kv, mas)
    gen.prep()
    gen.wait_ready(5.0)
    gen.expose()
    return gen.wait_done(5.0)


def test_air_kerma_follows_the_square_of_kv_and_the_inverse_square_of_distance() -> None:
    k = air_kerma_ugy(80, 1.0, 1.0)
    assert air_kerma_ugy(160, 1.0, 1.0) == pytest.approx(4 * k)
    assert air_kerma_ugy(80, 3.0, 1.0) == pytest.approx(3 * k)
    assert air_kerma_ugy(80, 1.0, 2.0) == pytest.approx(k / 4)
    with pytest.raises(ValueError, match="positive"):
        air_kerma_ugy(80, 1.0, 0.0)


def test_a_pulse_survives_its_datagram_and_garbage_is_refused() -> None:
    pulse = BeamPulse(81.0, 199.5, 5.0, 1.0, 123.25, 0.005, 7.5)
    assert BeamPulse.decode(pulse.encode()) == pulse
    for bad in (b"", b"\xff\xfe", b"{}", b'{"kv": "x"}'):
        with pytest.raises(ValueError, match="beam pulse"):
            BeamPulse.decode(bad)


def test_a_window_gets_the_dose_of_the_beam_it_overlaps() -> None:
    pulse = BeamPulse(80.0, 200.0, 10.0, 2.0, 10.0, 0.5, 8.0)
    assert pulse.kerma_within_ugy(9.0, 11.0) == pytest.approx(8.0)
    assert pulse.kerma_within_ugy(10.25, 11.0) == pytest.approx(4.0)
    assert pulse.kerma_within_ugy(11.0, 12.0) == 0.0


def test_publish_reaches_the_panels_of_the_room_and_forgets_dead_ones(tmp_path: Path) -> None:
    room, other = Room(tmp_path / "a"), Room(tmp_path / "b")
    here, there = room.listen(), other.listen()
    stale = room.listen()
    stale.sock.close()  # its panel died without leaving: the file stays, nobody reads
    pulse = room.pulse(Delivered(70.0, 100.0, 10.0, 1.0), time.monotonic(), 0.01)
    try:
        assert room.publish(pulse) == 1
        assert here.take() == [pulse] and there.take() == []
        assert not stale.path.exists()
        assert pulse.air_kerma_ugy == pytest.approx(air_kerma_ugy(70.0, 1.0, room.sid_m))
    finally:
        here.close()
        there.close()
    assert not here.path.exists()


def test_dose_comes_from_the_exposure_and_only_in_the_room(tmp_path: Path) -> None:
    room = tmp_path / "room"
    inside, elsewhere, nowhere = _panel(room), _panel(tmp_path / "other"), _panel(None)
    gen = InProcessGenerator(FAST, seed=1, room=Room(room))
    panels = (inside, elsewhere, nowhere)
    means: list[float] = []
    for panel in panels:
        panel.connect()
        panel.configure(MODE)
    try:
        darks = []
        for panel in panels:  # a dark of each, same panel model (seed) for all three
            panel.arm()
            panel.trigger()
            darks.append(float(panel.read_frame(5).pixels.mean()))
        for panel in panels:
            panel.arm()
        _expose(gen, 70, 1.0)
        for panel in panels:
            panel.trigger()
            means.append(float(panel.read_frame(5).pixels.mean()))
    finally:
        for panel in panels:
            panel.close()
    assert gen.model.commands.count("EXP") == 1
    counts = inside.spec.counts_per_ugy * air_kerma_ugy(70, 1.0)
    assert means[0] - darks[0] > 0.5 * counts, "the panel in the room integrated the beam"
    for dark, mean in zip(darks[1:], means[1:], strict=True):
        assert abs(mean - dark) < 0.05 * counts, "a panel outside the room stays dark"


def test_the_beam_of_a_generator_in_another_process_reaches_the_panel(tmp_path: Path) -> None:
    room = tmp_path / "room"
    panel = _panel(room)
    proc = subprocess.Popen(
        [sys.executable, "-c", CODE, "simulate", "generator", "--prep-s", "0.02",
         "--room", str(room)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        with panel, GeneratorClient(port, timeout_s=2.0) as client:
            panel.configure(MODE)
            panel.arm()
            panel.trigger()
            dark = panel.read_frame(5).pixels
            panel.arm()
            delivered = _expose(client, 70, 1.0)
            panel.trigger()
            frame = panel.read_frame(5).pixels
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    counts = panel.spec.counts_per_ugy * air_kerma_ugy(delivered.kv, delivered.mas)
    gained = float(np.mean(frame.astype(np.float64) - dark))
    assert gained == pytest.approx(counts, rel=0.1), "the delivered technique's dose arrived"

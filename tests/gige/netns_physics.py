"""The GigE simulator is a physics panel (issue 15, section 2): every frame a fresh readout.

Over the wire, with panelgate's ``gige://`` driver, the simulator in-process on a free
port, standing in an X-ray room with the pty simulated generator of this process: dark
frames carry fresh read noise, a flood carries the dose the generator delivered, and
``panelgate calibrate all`` over GigE stores a set that flattens a flood as well as the
same calibration over ``usb://sim`` does. Runs inside a loopback-only namespace (see
conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from panelgate.acquisition.cli import main
from panelgate.acquisition.detectors import open_detector
from panelgate.calibration import CalibrationSet, CalibrationStore, correct
from panelgate.drivers import Detector, ReadoutMode
from panelgate.drivers.generator import Delivered, GeneratorClient
from panelgate.drivers.gige import GigEDetector
from panelgate.simulators import PanelModel, Room, air_kerma_ugy
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator
from panelgate.simulators.gige import GigESimulator, SimulatorConfig

WIDTH, HEIGHT, SEED = 128, 96, 21
MODE = ReadoutMode(width=WIDTH, height=HEIGHT, exposure_s=0.01)


@pytest.fixture
def room(tmp_path: Path) -> Iterator[tuple[Path, SimulatedGenerator]]:
    path = tmp_path / "room"
    spec = GeneratorSpec(prep_s=0.02, time_scale=0.1)
    with SimulatedGenerator(spec, seed=5, room=Room(path)) as generator:
        yield path, generator


@pytest.fixture
def simulator(room: tuple[Path, SimulatedGenerator]) -> Iterator[GigESimulator]:
    config = SimulatorConfig(
        port=0, width=WIDTH, height=HEIGHT, seed=SEED, serial="GIGE-PHYS", room=str(room[0])
    )
    with GigESimulator(config) as sim:
        yield sim


@pytest.fixture
def detector(simulator: GigESimulator) -> Iterator[GigEDetector]:
    det = GigEDetector.from_url(f"gige://127.0.0.1:{simulator.port}")
    det.connect()
    det.configure(MODE)
    yield det
    det.close()


def _frame(det: Detector, gen: GeneratorClient | None = None, mas: float = 0.0) -> np.ndarray:
    """One frame: a dark, or with ``gen`` an exposure at 70 kV and ``mas`` (returns pixels)."""
    return _exposure(det, gen, mas)[0]


def _exposure(
    det: Detector, gen: GeneratorClient | None, mas: float
) -> tuple[np.ndarray, Delivered | None]:
    """One frame and what the generator delivered for it (None for a dark)."""
    det.arm()
    delivered = None
    if gen is not None:
        gen.set_technique(70, mas)
        gen.prep()
        gen.wait_ready(5.0)
        gen.expose()
        delivered = gen.wait_done(5.0)
    det.trigger()
    return det.read_frame(10).pixels.astype(np.float64), delivered


def _good(simulator: GigESimulator) -> np.ndarray:
    """Pixels the simulator's truth calls good (the same seed draws the same panel)."""
    return PanelModel(simulator.spec, SEED).truth().defects == 0


def test_consecutive_darks_differ_by_the_read_noise(
    simulator: GigESimulator, detector: GigEDetector
) -> None:
    """Two darks read one after the other: their difference has σ = √2 · read noise."""
    first, second = _frame(detector), _frame(detector)
    good = _good(simulator)
    assert not np.array_equal(first, second)
    sigma = float((second - first)[good].std())
    expected = np.sqrt(2.0) * simulator.spec.read_noise_counts
    assert sigma == pytest.approx(expected, rel=0.1)
    # both are darks: the offset, not a phantom (the old stream alternated one in)
    assert abs(float(second[good].mean()) - float(first[good].mean())) < 1.0


def test_a_flood_carries_the_dose_the_generator_delivered(
    simulator: GigESimulator, detector: GigEDetector, room: tuple[Path, SimulatedGenerator]
) -> None:
    """Floods at 0.5, 1 and 2 mAs (70 kV) with a dark before each: the mean signal above
    the dark is the panel's counts per µGy times the air kerma of the delivered technique
    (room model), so it scales with the mAs the generator delivered."""
    _, generator = room
    good = _good(simulator)
    signals, kermas = [], []
    with GeneratorClient(generator.device_path, timeout_s=2.0) as gen:
        for mas in (0.5, 1.0, 2.0):
            dark = _frame(detector)
            flood, delivered = _exposure(detector, gen, mas)
            assert delivered is not None
            signals.append(float((flood - dark)[good].mean()))
            kermas.append(air_kerma_ugy(delivered.kv, delivered.mas))
    per_ugy = np.array(signals) / np.array(kermas)
    # lag: a flood read after a dark carries 2 % of nothing; the panel-mean gain is 1
    assert per_ugy == pytest.approx(simulator.spec.counts_per_ugy, rel=0.05)
    assert signals[2] / signals[0] == pytest.approx(kermas[2] / kermas[0], rel=0.03)


def _residual_prnu(det: Detector, gen: GeneratorClient, cal: CalibrationSet) -> float:
    """σ / mean of one corrected flood at 2 mAs over good pixels, an 8-px border removed."""
    _frame(det)  # a dark first: no lag of an earlier flood
    raw = _frame(det, gen, 2.0).astype(np.uint16)
    image = correct(raw, cal).astype(np.float64) - cal.pedestal_counts
    inner = (cal.defects == 0)[8:-8, 8:-8]
    values = image[8:-8, 8:-8][inner]
    return float(values.std() / values.mean())


def _calibrate(url: str, generator: SimulatedGenerator, store: Path) -> CalibrationSet:
    rc = main([
        "calibrate", "all", "--detector", url, "--generator", generator.device_path,
        "--yes", "--frames", "8", "--flood-frames", "4", "--store", str(store),
    ])  # fmt: skip
    assert rc == 0
    [entry] = CalibrationStore(store).sets()
    return CalibrationStore(store).load(entry.set_id)


def test_calibrate_all_over_gige_flattens_a_flood_as_usb_sim_does(
    tmp_path: Path, simulator: GigESimulator, room: tuple[Path, SimulatedGenerator]
) -> None:
    """``calibrate all`` through the pty generator, over GigE and over ``usb://sim`` (the same
    panel model and seed, in the same room); a flood at 2 mAs corrected with each set:
    both residual non-uniformities are the quantum noise of one frame (≈ 2-3 %), within
    15 % of each other, and far below the raw flood's (the 5 % gain pattern)."""
    path, generator = room
    gige_url = f"gige://127.0.0.1:{simulator.port}"
    usb_url = f"usb://sim?width={WIDTH}&height={HEIGHT}&seed={SEED}&room={path}"
    prnu = {}
    for name, url in (("gige", gige_url), ("usb", usb_url)):
        cal = _calibrate(url, generator, tmp_path / f"store-{name}")  # the CLI opens the port
        det = open_detector(url)
        det.connect()
        try:
            det.configure(MODE)
            with GeneratorClient(generator.device_path, timeout_s=2.0) as gen:
                prnu[name] = _residual_prnu(det, gen, cal)
                raw = _frame(det, gen, 2.0) - cal.dark
        finally:
            det.close()
        inner = (cal.defects == 0)[8:-8, 8:-8]
        raw_values = raw[8:-8, 8:-8][inner]
        assert raw_values.std() / raw_values.mean() > 1.5 * prnu[name], name
    assert prnu["gige"] == pytest.approx(prnu["usb"], rel=0.15), prnu
    assert prnu["gige"] < 0.04, prnu

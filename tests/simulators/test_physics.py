"""Simulator physics of issue 6 §1: drift, seams, defect classes, non-linearity, lag, AED."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from panelgate.drivers import DetectorTimeout, ReadoutMode
from panelgate.simulators import (
    DefectClass,
    PanelModel,
    PanelSpec,
    SimulatedDetector,
    chest,
)

SPEC = PanelSpec(width=256, height=192, defect_fraction=2e-3, noisy_fraction=1e-3)


@pytest.fixture(scope="module")
def model() -> PanelModel:
    return PanelModel(SPEC, seed=99)


def test_every_defect_class_is_present_and_exported(model: PanelModel, tmp_path: Path) -> None:
    truth = model.truth()
    present = {DefectClass(int(v)) for v in np.unique(truth.defects)}
    assert present == set(DefectClass)
    written = truth.save(tmp_path)
    names = {p.name for p in written}
    assert {"offset.npy", "gain.npy", "defects.npy", "drift.npy", "lag.npy"} <= names
    np.testing.assert_array_equal(np.load(tmp_path / "defects.npy"), truth.defects)
    classes = json.loads((tmp_path / "classes.json").read_text())["defect_classes"]
    assert classes["CLUSTER"] == DefectClass.CLUSTER


def test_offset_drifts_with_panel_temperature() -> None:
    model = PanelModel(PanelSpec(width=64, height=64, lag_fraction=0.0), seed=1)
    cold = np.mean([model.read(temp_c=31.5).astype(float) for _ in range(8)], axis=0)
    warm = np.mean([model.read(temp_c=36.5).astype(float) for _ in range(8)], axis=0)
    truth = model.truth()
    good = truth.defects == DefectClass.GOOD
    expected = truth.offset_at(36.5) - truth.offset_at(31.5)
    assert float(np.median(expected[good])) == pytest.approx(5 * 3.0, rel=0.1)
    # Measured drift matches the truth per pixel within the averaged read noise.
    error = (warm - cold - expected)[good]
    assert abs(float(error.mean())) < 0.5 and float(error.std()) < 3.0


def test_readout_tiles_leave_gain_seams() -> None:
    spec = PanelSpec(width=240, height=64, gain_fpn=0.0, tile_cols=4, tile_rows=1)
    gain = PanelModel(spec, 2).truth().gain
    column_means = np.median(gain, axis=0)
    jumps = np.abs(np.diff(column_means))
    seams = sorted(np.argsort(jumps)[-3:] + 1)
    assert seams == [60, 120, 180]


def test_lag_carries_a_few_percent_and_lag_pixels_much_more(model: PanelModel) -> None:
    truth = model.truth()
    model.read(0.0)
    model.read(8.0)
    after = model.read(0.0).astype(float) - truth.offset
    signal = 8.0 * SPEC.counts_per_ugy
    good = truth.defects == DefectClass.GOOD
    assert float(np.median(after[good])) == pytest.approx(0.02 * signal, rel=0.15)
    lagging = truth.defects == DefectClass.LAG
    assert float(np.median(after[lagging])) > 10 * float(np.median(after[good]))
    # One frame later the lag of a dark is gone (one-frame model).
    again = model.read(0.0).astype(float) - truth.offset
    assert abs(float(np.median(again[good]))) < 2.0


def test_nonlinear_pixels_bend_their_response() -> None:
    spec = PanelSpec(width=128, height=128, nonlinear_fraction=0.01, lag_fraction=0.0)
    model = PanelModel(spec, 5)
    truth = model.truth()
    means = {}
    for dose in (2.0, 16.0):
        model.read(0.0)
        means[dose] = np.mean([model.read(dose).astype(float) for _ in range(4)], 0) - truth.offset
    ratio = means[16.0] / means[2.0] / 8.0
    strong = truth.defects == DefectClass.NONLINEAR
    good = truth.defects == DefectClass.GOOD
    assert float(np.median(np.abs(ratio[good] - 1))) < 0.025  # quantum noise of 4 frames
    assert float(np.min(np.abs(ratio[strong] - 1))) > 0.05


@pytest.mark.parametrize(("w", "h"), [(2880, 2880), (3072, 3888)])
def test_standard_matrices_and_14_bit(w: int, h: int) -> None:
    spec = PanelSpec(width=w, height=h, bits_stored=14)
    frame = PanelModel(spec, 0).read(100.0)
    assert frame.shape == (h, w) and frame.max() == 16383


def test_chest_phantom_looks_like_a_chest() -> None:
    t = chest(256, 256)
    assert t.dtype == np.float32 and 0 < t.min() and t.max() <= 1.0
    lung = t[100, 70]
    mediastinum = t[100, 128]
    outside = t[5, 5]
    assert outside > lung > mediastinum


def test_detector_reports_temperature_and_aed_waits_for_dose() -> None:
    det = SimulatedDetector.from_url("sim://?width=64&height=48&temp=40&aed=1&seed=4")
    with det:
        det.configure(ReadoutMode(width=64, height=48, exposure_s=0.01))
        det.arm()
        det.trigger()
        with pytest.raises(DetectorTimeout):
            det.read_frame(0.3)  # AED: no dose, no frame
        det.irradiate(5.0)
        frame = det.read_frame(5.0)
        assert frame.meta.temp_c == 40.0
        assert float(np.median(frame.pixels)) > 5000  # integrated the dose


def test_same_seed_same_sequence_including_lag() -> None:
    a, b = PanelModel(SPEC, 3), PanelModel(SPEC, 3)
    for dose in (0.0, 5.0, 0.0):
        np.testing.assert_array_equal(a.read(dose), b.read(dose))

"""Calibration measured against the simulator's ground truth (seeds the maps never see)."""

from __future__ import annotations

import numpy as np
import pytest

from panelgate.calibration import (
    CalibrationError,
    CalibrationSet,
    FrameAverager,
    correct,
    defect_map,
    gain_map,
)
from panelgate.simulators import PanelModel, PanelSpec

SPEC = PanelSpec(width=384, height=320, defect_fraction=2e-3, line_defects=2)
FLOOD_UGY = 8.0


@pytest.fixture(scope="module")
def calibrated() -> tuple[PanelModel, CalibrationSet]:
    model = PanelModel(SPEC, seed=20240611)
    darks, floods = FrameAverager(), FrameAverager()
    for _ in range(16):
        darks.add(model.read())
    for _ in range(16):
        floods.add(model.read(FLOOD_UGY))
    dark = darks.mean()
    cal = CalibrationSet(
        SPEC.serial,
        "m",
        dark,
        gain_map(floods.mean(), dark),
        defect_map(dark, darks.std(), floods.mean(), SPEC.full_scale),
    )
    return model, cal


def test_every_simulated_defect_is_found_and_no_good_pixel_is_flagged(calibrated) -> None:  # type: ignore[no-untyped-def]
    model, cal = calibrated
    truth = model.truth().defects > 0
    found = cal.defects > 0
    assert int((truth & ~found).sum()) == 0, "simulated defects missed"
    # Random noise may push a rare good pixel over a threshold; allow 0.01 % false positives.
    assert int((found & ~truth).sum()) <= 1e-4 * truth.size


def test_dark_map_recovers_the_offset_within_read_noise(calibrated) -> None:  # type: ignore[no-untyped-def]
    model, cal = calibrated
    good = model.truth().defects == 0
    error = cal.dark[good] - model.truth().offset[good]
    # 16 frames of 4-count read noise: standard error 1 count.
    assert abs(float(error.mean())) < 0.1
    assert float(error.std()) < 1.5


def test_flat_field_fixed_pattern_is_removed(calibrated) -> None:  # type: ignore[no-untyped-def]
    model, cal = calibrated
    # Average several flat exposures so quantum noise does not hide the fixed pattern.
    raw_sum = np.zeros(cal.shape)
    corrected_sum = np.zeros(cal.shape)
    n = 16
    for _ in range(n):
        raw = model.read(FLOOD_UGY / 2)
        raw_sum += raw
        corrected_sum += correct(raw, cal)
    inner = (slice(16, -16), slice(16, -16))
    raw_mean = raw_sum[inner] / n - model.truth().offset[inner]
    corrected_mean = corrected_sum[inner] / n - cal.pedestal_counts
    raw_cv = raw_mean.std() / raw_mean.mean()
    corrected_cv = corrected_mean.std() / corrected_mean.mean()
    assert raw_cv > 0.04  # the simulated gain pattern is ~5 %
    # What remains is quantum noise of 16+16 frames (~0.7 %), not the 5 % pattern.
    assert corrected_cv < 0.012
    assert corrected_cv < raw_cv / 4


def test_gain_map_refuses_floods_without_beam() -> None:
    model = PanelModel(PanelSpec(width=64, height=64), seed=1)
    averager = FrameAverager()
    for _ in range(2):
        averager.add(model.read())
    with pytest.raises(CalibrationError, match="beam"):
        gain_map(averager.mean(), averager.mean())

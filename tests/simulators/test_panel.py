"""The simulated panel: deterministic, physical, and honest about its ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from panelgate.simulators import DefectClass, PanelModel, PanelSpec, step_wedge_line_pairs

SMALL = PanelSpec(width=128, height=96)
NO_DEFECTS = dict(
    defect_fraction=0.0,
    line_defects=0,
    row_line_defects=0,
    noisy_fraction=0.0,
    clusters=0,
    nonlinear_fraction=0.0,
    lag_pixel_fraction=0.0,
)


def test_same_seed_same_frames_other_seed_other_panel() -> None:
    a, b, c = PanelModel(SMALL, 7), PanelModel(SMALL, 7), PanelModel(SMALL, 8)
    np.testing.assert_array_equal(a.read(5.0), b.read(5.0))
    np.testing.assert_array_equal(a.read(), b.read())
    assert not np.array_equal(a.truth().offset, c.truth().offset)


def test_truth_maps_are_read_only() -> None:
    truth = PanelModel(SMALL, 1).truth()
    with pytest.raises(ValueError, match="read-only"):
        truth.offset[0, 0] = 0


def test_quantum_noise_is_poisson_like() -> None:
    spec = PanelSpec(width=256, height=256, gain_fpn=0.0, **NO_DEFECTS)  # type: ignore[arg-type]
    model = PanelModel(spec, 3)
    a = model.read(4.0).astype(float)
    b = model.read(4.0).astype(float)
    diff = (a - b)[8:-8, 8:-8]
    k = spec.counts_per_ugy / spec.quanta_per_ugy
    expected_var = 2 * (k * k * 4.0 * spec.quanta_per_ugy + spec.read_noise_counts**2)
    assert diff.var() == pytest.approx(expected_var, rel=0.05)


def test_low_dose_pixels_use_exact_poisson() -> None:
    spec = PanelSpec(
        width=128,
        height=128,
        **NO_DEFECTS,  # type: ignore[arg-type]
        gain_fpn=0.0,
        nonlinearity_sigma=0.0,
        read_noise_counts=0.0,
        offset_fpn_counts=0.0,
    )
    model = PanelModel(spec, 4)
    k = spec.counts_per_ugy / spec.quanta_per_ugy
    frame = model.read(0.01)  # 3 quanta per pixel
    quanta = (frame.astype(float) - model.truth().offset) / (model.truth().gain * k)
    # Exact Poisson draws are whole numbers of quanta (up to the ADC's rounding), never negative.
    assert np.allclose(quanta, np.round(quanta), atol=0.6 / (0.9 * k))
    assert quanta.mean() == pytest.approx(0.01 * spec.quanta_per_ugy, rel=0.05)
    assert quanta.min() > -0.5


def test_saturation_and_defect_classes() -> None:
    spec = PanelSpec(width=128, height=128, bits_stored=14, defect_fraction=0.01)
    model = PanelModel(spec, 5)
    frame = model.read(1000.0)
    assert frame.max() == spec.full_scale == 16383
    truth = model.truth().defects
    dead = truth == DefectClass.DEAD
    assert dead.any() and (truth == DefectClass.HOT).any() and (truth == DefectClass.LINE).any()
    # Dead pixels read their offset (no signal), far below their saturated neighbours.
    assert np.all(frame[dead] < 2000)


def test_phantom_has_wedge_steps_and_bars() -> None:
    t = step_wedge_line_pairs(512, 512, 0.139)
    assert t.dtype == np.float32 and t.min() == pytest.approx(0.05) and t.max() == 1.0
    wedge_row = t[100, 32:480]
    assert len(np.unique(wedge_row)) >= 10
    with pytest.raises(ValueError, match="32x32"):
        step_wedge_line_pairs(16, 16, 0.139)


def test_invalid_spec_is_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match="bits_stored must be 14 or 16, got 12"):
        PanelSpec(bits_stored=12)

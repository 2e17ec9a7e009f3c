"""Linearity, lag, dark noise and defect flags against the simulated panel's truth."""

from __future__ import annotations

import numpy as np
import pytest

from panelgate.processing.quality.dark import dark_noise, defective_pixels
from panelgate.processing.quality.lag import measure_lag
from panelgate.processing.quality.linearity import fit_linearity
from panelgate.simulators import DefectClass, PanelModel, PanelSpec


def _model(**spec: float) -> PanelModel:
    return PanelModel(
        PanelSpec(width=256, height=256, **spec),  # type: ignore[arg-type]
        seed=int(np.random.default_rng().integers(1 << 30)),
    )


def test_linearity_of_a_linear_panel_and_linearising() -> None:
    model = _model(lag_fraction=0.0, nonlinearity_sigma=0.0, nonlinear_fraction=0.0)
    dark = np.mean([model.read(0.0) for _ in range(4)], axis=0)
    kerma = [0.0, 1.0, 2.5, 5.0, 10.0]
    signal = [float(np.median(model.read(k) - dark)) for k in kerma]
    fit = fit_linearity(kerma, signal)
    assert fit.slope_counts_per_ugy == pytest.approx(model.spec.counts_per_ugy, rel=0.02)
    assert fit.r_squared > 0.9999
    assert fit.max_deviation_fraction < 0.01
    np.testing.assert_allclose(fit.to_kerma_ugy(signal), kerma, atol=0.05)


def test_linearity_sees_a_bending_response() -> None:
    kerma = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    fit = fit_linearity(kerma, 2000.0 * kerma * (1 - 0.02 * kerma))
    assert fit.r_squared < 0.999
    assert fit.max_deviation_fraction > 0.05
    with pytest.raises(ValueError, match="two distinct kerma"):
        fit_linearity([1.0, 1.0], [5.0, 6.0])
    with pytest.raises(ValueError, match="does not rise"):
        fit_linearity([1.0, 2.0], [6.0, 5.0])


def test_first_frame_and_residual_lag_match_the_panels_lag() -> None:
    model = _model(lag_fraction=0.03)
    dark = np.mean([model.read(0.0) for _ in range(4)], axis=0)
    exposed = model.read(8.0)
    after = np.stack([model.read(0.0) for _ in range(3)])
    lag = measure_lag(exposed, after, dark)
    assert lag.first_frame == pytest.approx(0.03, rel=0.1)
    assert abs(lag.residual) < 0.003  # the model's lag is one frame long
    with pytest.raises(ValueError, match="no signal"):
        measure_lag(dark, after, dark)


def test_dark_noise_and_defects_against_the_truth() -> None:
    model = _model(defect_fraction=2e-3, noisy_fraction=2e-3)
    darks = np.stack([model.read(0.0) for _ in range(12)]).astype(float)
    noise = dark_noise(darks)
    assert noise.noise_counts == pytest.approx(model.spec.read_noise_counts, rel=0.1)
    assert noise.frames == 12
    # Uniform read noise: what spread is measured is that of a σ from 12 frames by itself.
    assert noise.noise_spread_measured == pytest.approx(1 / np.sqrt(22), rel=0.15)
    assert noise.noise_nonuniformity < 0.08
    flat = np.mean([model.read(5.0) for _ in range(4)], axis=0) - darks.mean(axis=0)
    flagged = defective_pixels(darks, flat)
    truth = model.truth().defects
    for cls in (DefectClass.DEAD, DefectClass.HOT, DefectClass.NOISY, DefectClass.CLUSTER):
        assert flagged[truth == cls].all(), cls
    assert np.count_nonzero(flagged & (truth == DefectClass.GOOD)) < 0.001 * truth.size
    with pytest.raises(ValueError, match="at least two darks"):
        dark_noise(darks[:1])

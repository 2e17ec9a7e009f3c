"""NNPS (IEC 62220-1-1) of white noise and of an unblurred simulated panel, against theory."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from panelgate.processing.quality.nnps import normalised_nps
from panelgate.simulators import PanelModel, PanelSpec
from panelgate.simulators.panel import nnps_truth


def _fresh_seed() -> int:
    return int(np.random.default_rng().integers(1 << 30))


def _bands(profile: npt.NDArray[np.float64], width: int = 16) -> npt.NDArray[np.float64]:
    """Means over bands of ``width`` frequency bins from the third bin on.

    One bin of a profile averages a few hundred periodogram values (a few % spread); the
    comparison with theory is made, as IEC 62220-1-1 smooths, over bands of bins.
    """
    usable = profile[2 : 2 + (profile.size - 2) // width * width]
    result: npt.NDArray[np.float64] = usable.reshape(-1, width).mean(axis=1)
    return result


def test_white_noise_is_flat_at_sigma2_dxdy_over_mean2() -> None:
    rng = np.random.default_rng(_fresh_seed())
    sigma, mean, pitch = 7.0, 1200.0, 0.15
    # A gentle quadratic shading on top: the detrend takes it out.
    yy, xx = np.mgrid[0:640, 0:640] / 640.0
    shading = 1.0 + 0.05 * (xx - 0.5) ** 2 - 0.03 * (yy - 0.4) ** 2
    # 8 frames (72 ROIs): with 3, the axis profiles' bands were 6 % off once in ~4 seeds
    flats = mean * shading + rng.normal(0.0, sigma, (8, 640, 640))
    result = normalised_nps(flats, pixel_pitch_mm=pitch, temporal=False)
    theory = sigma**2 * pitch**2 / result.mean_signal**2
    for profile in (result.x_mm2, result.y_mm2, result.radial_mm2):
        np.testing.assert_allclose(_bands(profile), theory, rtol=0.05)
    assert float(np.mean(result.nnps_2d_mm2)) == pytest.approx(theory, rel=0.05)
    assert result.frequency_per_mm[-1] == pytest.approx(0.5 / pitch)
    assert result.rois == 8 * 9  # 512 px region: 3 x 3 half-overlapping ROIs per frame


def test_temporal_noise_leaves_the_fixed_pattern_out() -> None:
    rng = np.random.default_rng(_fresh_seed())
    pattern = 1000.0 * rng.normal(1.0, 0.05, (512, 512))  # 5 % gain FPN, same every frame
    flats = pattern + rng.normal(0.0, 10.0, (6, 512, 512))
    theory = 100.0 * 0.1**2 / float(np.mean(flats)) ** 2
    temporal = normalised_nps(flats, pixel_pitch_mm=0.1, region_fraction=1.0)
    np.testing.assert_allclose(_bands(temporal.radial_mm2), theory, rtol=0.05)
    total = normalised_nps(flats, pixel_pitch_mm=0.1, region_fraction=1.0, temporal=False)
    assert float(np.median(total.radial_mm2[2:])) > 10 * theory


def test_unblurred_simulated_panel_within_5_percent_of_theory() -> None:
    spec = PanelSpec(width=640, height=640, lag_fraction=0.0)
    model = PanelModel(spec, seed=_fresh_seed())
    kerma = 5.0
    dark = np.mean([model.read(0.0) for _ in range(4)], axis=0)
    flats = np.stack([model.read(kerma) - dark for _ in range(6)])
    good = model.truth().defects == 0
    flats = np.where(good, flats, np.median(flats))  # defects are not noise
    result = normalised_nps(flats, pixel_pitch_mm=spec.pixel_pitch_mm)
    theory = float(nnps_truth(spec, kerma))
    np.testing.assert_allclose(_bands(result.radial_mm2), theory, rtol=0.05)
    np.testing.assert_allclose(_bands(result.x_mm2, 32), theory, rtol=0.05)


def test_blurred_panel_noise_is_correlated_as_its_truth_says() -> None:
    spec = PanelSpec(width=640, height=640, lag_fraction=0.0, mtf_sigma_px=0.6)
    model = PanelModel(spec, seed=_fresh_seed())
    flats = np.stack([model.read(5.0).astype(float) for _ in range(6)])
    flats = np.where(model.truth().defects == 0, flats, np.median(flats)) - spec.offset_counts
    result = normalised_nps(flats, pixel_pitch_mm=spec.pixel_pitch_mm)
    f_px = result.frequency_per_mm * spec.pixel_pitch_mm
    theory = nnps_truth(spec, 5.0, f_px, 0.0)
    # Along x (the profile's lines lie within 7/256 cycles/px of the axis) the measured
    # spectrum follows the truth, falling to a fraction of its white level near Nyquist.
    measured, expected = _bands(result.x_mm2, 32), _bands(theory, 32)
    np.testing.assert_allclose(measured, expected, rtol=0.06)
    assert measured[-1] < 0.5 * measured[0]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="smaller than one 256x256 ROI"):
        normalised_nps(np.ones((200, 200)), pixel_pitch_mm=0.1)
    with pytest.raises(ValueError, match="positive mean"):
        normalised_nps(np.zeros((300, 300)), pixel_pitch_mm=0.1, region_fraction=1.0)
    with pytest.raises(ValueError, match="2-D frame or a 3-D stack"):
        normalised_nps(np.ones(300), pixel_pitch_mm=0.1)

"""Presampling MTF (IEC 62220-1-1) against the analytic oracle and the simulator's truth.

Oracle: a Gaussian-blurred (σ in pixels) ideal edge integrated over square pixels has
MTF(f) = exp(−2π²σ²f²)·|sinc(f)|, f in cycles per pixel. The edge image is rendered
exactly: along x the pixel integral of Φ(d/σ) has a closed form, along y it is sampled
32 times per pixel.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from panelgate.processing.quality.mtf import presampling_mtf
from panelgate.simulators import PanelModel, PanelSpec
from panelgate.simulators.edge import slanted_edge
from panelgate.simulators.panel import presampling_mtf_truth

_erf = np.frompyfunc(math.erf, 1, 1)


def _phi_integral(u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """∫_{-∞}^{u} Φ(t) dt = u·Φ(u) + φ(u)."""
    cdf = 0.5 * (1.0 + _erf(u / math.sqrt(2.0)).astype(np.float64))
    pdf = np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
    result: npt.NDArray[np.float64] = u * cdf + pdf
    return result


def analytic_edge(size: int, angle_deg: float, sigma_px: float) -> npt.NDArray[np.float64]:
    """Pixel values (0 dark side, 1 bright side) of a blurred edge tilted by ``angle_deg``."""
    t = math.tan(math.radians(angle_deg))
    c = math.cos(math.radians(angle_deg))
    sub = (np.arange(32) + 0.5) / 32
    rows = (np.arange(size)[:, None] + sub[None, :]).ravel()  # y samples
    x0 = size / 2 + t * (rows - size / 2)  # edge position at each y sample
    left = np.arange(size)[None, :] - x0[:, None]  # pixel's left side minus the edge
    if sigma_px == 0:
        frac = np.clip(left + 1.0, 0.0, 1.0)  # part of the pixel right of the edge (in x)
    else:
        s = sigma_px / c  # blur along x of a blur σ normal to the edge
        frac = (_phi_integral((left + 1.0) / s) - _phi_integral(left / s)) * s
    out: npt.NDArray[np.float64] = frac.reshape(size, 32, size).mean(axis=1)
    return out


def gaussian_oracle(f: npt.NDArray[np.float64], sigma_px: float) -> npt.NDArray[np.float64]:
    result: npt.NDArray[np.float64] = np.exp(-2 * np.pi**2 * sigma_px**2 * f**2) * np.abs(
        np.sinc(f)
    )
    return result


@pytest.mark.parametrize(
    ("sigma_px", "angle_deg"), [(0.0, 2.0), (0.4, 2.9), (0.6, 2.5), (0.8, -1.7)]
)
def test_analytic_edge_within_2_percent_up_to_nyquist(sigma_px: float, angle_deg: float) -> None:
    image = 100.0 + 900.0 * analytic_edge(160, angle_deg, sigma_px)
    result = presampling_mtf(image, pixel_pitch_mm=0.139)
    assert result.axis == "x"
    assert result.angle_deg == pytest.approx(angle_deg, abs=0.02)
    f = np.linspace(0.0, 0.5, 51)
    np.testing.assert_allclose(result.at(f), gaussian_oracle(f, sigma_px), rtol=0.02, atol=0)
    # The transposed image is a horizontal edge: the same MTF along y.
    across = presampling_mtf(image.T, pixel_pitch_mm=0.139)
    assert across.axis == "y"
    np.testing.assert_allclose(across.at(f), result.at(f), rtol=1e-9)


def test_mtf50_and_nyquist_read_from_the_curve() -> None:
    result = presampling_mtf(analytic_edge(128, 2.2, 0.6), pixel_pitch_mm=0.2)
    f = np.linspace(0, 1, 20001)
    oracle = gaussian_oracle(f, 0.6)
    mtf50_mm = f[np.argmax(oracle < 0.5)] / 0.2
    assert result.mtf50_per_mm == pytest.approx(mtf50_mm, rel=0.02)
    assert result.mtf_at_nyquist == pytest.approx(
        float(gaussian_oracle(f[10000:10001], 0.6)[0]), rel=0.02
    )
    np.testing.assert_allclose(result.frequency_per_mm, result.frequency_per_px / 0.2)


@pytest.mark.parametrize("angle_deg", [0.5, 1.2, 3.6, 10.0])
def test_edge_angle_outside_range_is_refused(angle_deg: float) -> None:
    with pytest.raises(ValueError, match=r"outside 1\.5-3\.0 degrees"):
        presampling_mtf(analytic_edge(128, angle_deg, 0.5), pixel_pitch_mm=0.139)


def test_flat_image_and_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="flat"):
        presampling_mtf(np.full((64, 64), 5.0), pixel_pitch_mm=0.1)
    with pytest.raises(ValueError, match="2-D"):
        presampling_mtf(np.zeros((10, 64)), pixel_pitch_mm=0.1)
    with pytest.raises(ValueError, match="pixel_pitch_mm"):
        presampling_mtf(analytic_edge(64, 2, 0), pixel_pitch_mm=0.0)


def test_defective_pixels_left_out_by_the_mask() -> None:
    image = 100.0 + 900.0 * analytic_edge(128, 2.0, 0.6)
    rng = np.random.default_rng(3)
    bad = np.zeros(image.shape, bool)
    bad.flat[rng.choice(image.size, 60, replace=False)] = True
    spoiled = np.where(bad, 65535.0, image)
    f = np.linspace(0.0, 0.5, 26)
    masked = presampling_mtf(spoiled, pixel_pitch_mm=0.139, valid=~bad)
    np.testing.assert_allclose(masked.at(f), gaussian_oracle(f, 0.6), rtol=0.02)


def test_a_defective_column_beside_the_edge_does_not_move_it() -> None:
    """Dead pixels just on the dark side of the edge (a partial defective column).

    Filled with a row-wide value they made a false step beside the edge and moved its
    fitted angle (3.45 instead of 2 degrees on one simulated panel); their row neighbours
    now stand in for them.
    """
    image = 100.0 + 900.0 * analytic_edge(128, 2.0, 0.6)
    bad = np.zeros(image.shape, bool)
    centre = 64 + np.tan(np.radians(2.0)) * (np.arange(128) - 64)
    for row in range(20, 110):
        bad[row, int(centre[row]) - 3] = True  # three pixels left of the edge
    spoiled = np.where(bad, 0.0, image)
    result = presampling_mtf(spoiled, pixel_pitch_mm=0.139, valid=~bad)
    assert result.angle_deg == pytest.approx(2.0, abs=0.05)
    f = np.linspace(0.0, 0.5, 26)
    np.testing.assert_allclose(result.at(f), gaussian_oracle(f, 0.6), rtol=0.02)


@pytest.mark.parametrize("sigma_px", [0.0, 0.6])
def test_simulator_edge_matches_the_panels_known_mtf(sigma_px: float) -> None:
    """A simulated panel with a known blur: flat-field corrected edge, within 2 % to Nyquist."""
    size = 256
    spec = PanelSpec(width=size, height=size, mtf_sigma_px=sigma_px, lag_fraction=0.0)
    model = PanelModel(spec, seed=int(np.random.default_rng().integers(1 << 30)))
    edge = slanted_edge(size, size, angle_deg=2.0)
    kerma = 20.0
    # 16 frames each: with 4, one fresh seed in about 16 measured 2.0-2.8 % off (noise)
    dark = np.mean([model.read(0.0) for _ in range(8)], axis=0)
    flat = np.mean([model.read(kerma) for _ in range(16)], axis=0) - dark
    image = np.mean([model.read(kerma, edge) for _ in range(16)], axis=0) - dark
    valid = model.truth().defects == 0
    corrected = image / np.where(valid, flat, 1.0)
    result = presampling_mtf(corrected, pixel_pitch_mm=spec.pixel_pitch_mm, valid=valid)
    f = np.linspace(0.02, 0.5, 25)
    np.testing.assert_allclose(result.at(f), presampling_mtf_truth(spec, f), rtol=0.02)

"""The panel's light spread (issue 15): numba kernel against a numpy oracle, noise it correlates.

``_blur_separable`` is checked against ``numpy.convolve`` on reflect-padded rows and
columns; a blurred flat's pixel variance falls by the kernel's Σh² (2-D) for the quantum
part while the read noise stays white; the URL key ``mtf_sigma`` reaches the spec.
"""

from __future__ import annotations

import numpy as np
import pytest

from panelgate.drivers import InvalidSetting
from panelgate.simulators import PanelModel, PanelSpec, SimulatedDetector
from panelgate.simulators.panel import _blur_separable, blur_kernel


def _numpy_blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    r = kernel.size // 2
    rows = np.pad(image.astype(np.float64), ((0, 0), (r, r)), mode="reflect")
    tmp = np.stack([np.convolve(row, kernel[::-1], "valid") for row in rows])
    cols = np.pad(tmp, ((r, r), (0, 0)), mode="reflect")
    return np.stack([np.convolve(col, kernel[::-1], "valid") for col in cols.T]).T


@pytest.mark.parametrize(("sigma_px", "shape"), [(0.6, (40, 33)), (1.3, (17, 64)), (0.3, (9, 9))])
def test_blur_kernel_matches_the_numpy_oracle(sigma_px: float, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng()
    image = rng.uniform(0, 100, shape).astype(np.float32)
    kernel = blur_kernel(sigma_px)
    assert kernel.sum() == pytest.approx(1.0) and kernel.size == 2 * int(np.ceil(4 * sigma_px)) + 1
    out = np.empty_like(image)
    _blur_separable(image, kernel.astype(np.float32), out)
    np.testing.assert_allclose(out, _numpy_blur(image, kernel), rtol=1e-5, atol=1e-3)


def test_light_spread_correlates_the_quantum_noise_only() -> None:
    spec = PanelSpec(width=256, height=256, mtf_sigma_px=0.6, lag_fraction=0.0)
    model = PanelModel(spec, seed=int(np.random.default_rng().integers(1 << 30)))
    good = model.truth().defects == 0
    kerma = 5.0
    frames = np.stack([model.read(kerma).astype(float) for _ in range(8)])
    temporal = frames - frames.mean(axis=0)
    variance = float(np.mean(temporal[:, good] ** 2)) * 8 / 7
    k = spec.counts_per_ugy / spec.quanta_per_ugy
    gain2 = float(np.mean(model.truth().gain[good] ** 2))
    sum_h2 = float(np.sum(blur_kernel(0.6) ** 2) ** 2)
    expected = gain2 * k * k * kerma * spec.quanta_per_ugy * sum_h2 + spec.read_noise_counts**2
    assert variance == pytest.approx(expected, rel=0.05)
    mean_signal = float(np.median(frames.mean(axis=0)[good] - model.truth().offset[good]))
    assert mean_signal == pytest.approx(kerma * spec.counts_per_ugy, rel=0.02)


def test_url_key_sets_the_spread_and_is_checked() -> None:
    det = SimulatedDetector.from_url("sim://?width=64&height=64&mtf_sigma=0.6")
    assert det.spec.mtf_sigma_px == 0.6
    assert SimulatedDetector.from_url("sim://?width=64&height=64").spec.mtf_sigma_px == 0.0
    with pytest.raises(InvalidSetting, match="mtf_sigma_px must be in"):
        SimulatedDetector.from_url("sim://?width=64&height=64&mtf_sigma=5")

"""CNR of wedge steps and nodules (processing.quality.cnr) on synthetic images, known answers."""

from __future__ import annotations

import numpy as np
import pytest

from panelgate.processing.quality import nodule_cnr, wedge_step_cnr


def _wedge(levels: list[float], sigma: float, seed: int) -> tuple[np.ndarray, list]:
    rng = np.random.default_rng(seed)
    width = 60
    image = np.zeros((80, width * len(levels)))
    boxes = []
    for i, level in enumerate(levels):
        image[:, i * width : (i + 1) * width] = level
        boxes.append(((0, 80), (i * width, (i + 1) * width)))
    # A slow trend across the image (heel effect) is not noise: the plane fit removes it.
    image += np.linspace(0, 30, image.shape[1])[None, :]
    return image + rng.normal(0, sigma, image.shape), boxes


def test_wedge_step_cnr_is_the_step_difference_over_the_noise() -> None:
    levels = [1000.0, 800.0, 650.0, 560.0, 520.0]
    image, boxes = _wedge(levels, sigma=10.0, seed=1)
    result = wedge_step_cnr(image, boxes)
    assert len(result) == len(levels) - 1
    for r, a, b in zip(result, levels[:-1], levels[1:], strict=True):
        assert r.noise == pytest.approx(10.0, rel=0.05)
        # the trend adds 30/300 per pixel: one step's mean is offset by 6 from the next
        assert r.cnr == pytest.approx((a - b - 6.0) / 10.0, rel=0.06)


def test_wedge_step_cnr_halves_when_noise_doubles() -> None:
    levels = [1000.0, 900.0, 800.0]
    low = wedge_step_cnr(*_wedge(levels, sigma=5.0, seed=2))
    high = wedge_step_cnr(*_wedge(levels, sigma=10.0, seed=3))
    for a, b in zip(low, high, strict=True):
        assert a.cnr / b.cnr == pytest.approx(2.0, rel=0.08)


def test_wedge_step_margin_keeps_out_the_blurred_edges() -> None:
    image = np.zeros((40, 80))
    image[:, 40:] = 100.0
    image[:, 38:42] = 1e6  # an artefact at the edge is outside the margin
    boxes = [((0, 40), (0, 40)), ((0, 40), (40, 80))]
    image += np.random.default_rng(4).normal(0, 2.0, image.shape)
    (r,) = wedge_step_cnr(image, boxes, margin_px=4)
    assert r.cnr == pytest.approx(50.0, rel=0.06)


def test_nodule_cnr_against_a_sloping_background() -> None:
    rng = np.random.default_rng(5)
    rows, cols = np.mgrid[0:200, 0:200] + 0.5
    background = 500.0 + 0.8 * rows - 0.5 * cols  # anatomy under the nodule: a slope
    image = background + rng.normal(0, 4.0, (200, 200))
    cx, cy, d = 101.3, 97.6, 24.0
    image[np.hypot(rows - cy, cols - cx) <= d / 2] -= 20.0
    r = nodule_cnr(image, cx, cy, d)
    assert r.background == pytest.approx(500.0 + 0.8 * cy - 0.5 * cx, abs=1.0)
    assert r.noise == pytest.approx(4.0, rel=0.08)
    assert r.cnr == pytest.approx(5.0, rel=0.1)


def test_no_object_no_contrast() -> None:
    image = np.random.default_rng(6).normal(100.0, 3.0, (120, 120))
    assert nodule_cnr(image, 60.0, 60.0, 20.0).cnr < 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [((60.0, 60.0, 1.0), "at least 2"), ((10.0, 60.0, 20.0), "leaves the")],
)
def test_nodule_cnr_refusals(args: tuple[float, float, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        nodule_cnr(np.zeros((120, 120)), *args)


def test_wedge_needs_two_steps_and_room_for_its_margin() -> None:
    with pytest.raises(ValueError, match="at least two"):
        wedge_step_cnr(np.zeros((10, 10)), [((0, 10), (0, 10))])
    with pytest.raises(ValueError, match="margin"):
        wedge_step_cnr(np.zeros((10, 10)), [((0, 5), (0, 5)), ((5, 10), (5, 10))], margin_px=2)

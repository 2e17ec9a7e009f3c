"""Overshoot at step edges (processing.quality.overshoot) on synthetic profiles and fields."""

from __future__ import annotations

import numpy as np
import pytest

from panelgate.processing.quality import field_edge_overshoot, overshoot


def _step(n: int = 200, edge: int = 100, low: float = 10.0, high: float = 110.0) -> np.ndarray:
    p = np.full(n, low)
    p[edge:] = high
    return p


def test_a_clean_or_blurred_step_has_no_overshoot() -> None:
    p = _step()
    assert overshoot(p, 100, 20).percent == 0.0
    blurred = np.convolve(np.pad(p, 10, mode="edge"), np.ones(9) / 9, mode="same")[10:-10]
    result = overshoot(blurred, 100, 20)
    assert result.percent == pytest.approx(0.0, abs=1e-9)
    assert result.step == pytest.approx(100.0)


def test_ringing_is_measured_as_percent_of_the_step_on_each_side() -> None:
    p = _step()
    p[100:106] += 7.0  # bright side rises 7 above its plateau next to the edge
    p[95:100] -= 3.0  # dark side dips 3 below its own
    result = overshoot(p, 100, 20)
    assert result.high_percent == pytest.approx(7.0)
    assert result.low_percent == pytest.approx(3.0)
    assert result.percent == pytest.approx(7.0)


def test_a_falling_edge_is_measured_the_same_way() -> None:
    p = _step()[::-1].copy()  # high on the left now; the edge sits between 99 and 100
    p[94:100] += 12.0
    result = overshoot(p, 100, 20)
    assert result.high_percent == pytest.approx(12.0)
    assert result.step == pytest.approx(-100.0)


def test_unsharp_masking_overshoots_by_its_gain() -> None:
    # Unsharp masking y = x + g·(x − box(x)) of a step overshoots by g/2 of the step at
    # the pixel next to the edge (the box mean there is half way up).
    p = _step(low=0.0, high=100.0)
    k = 15
    box = np.convolve(np.pad(p, k, mode="edge"), np.ones(2 * k + 1) / (2 * k + 1), "same")
    box = box[k:-k]
    for gain in (0.2, 0.6):
        y = p + gain * (p - box)
        expected = 100.0 * gain * (k / (2 * k + 1))
        assert overshoot(y, 100, 25).high_percent == pytest.approx(expected, rel=1e-9)


def test_field_edges_of_a_processed_image() -> None:
    image = np.full((200, 240), 5.0)
    image[40:160, 50:190] = 105.0  # the field
    image[40:160, 50:53] += 20.0  # a halo inside the left blade's edge only
    result = field_edge_overshoot(image, (50, 40, 190, 160), window_px=10)
    assert set(result) == {"left", "top", "right", "bottom"}
    assert result["left"].percent == pytest.approx(20.0)
    assert max(result[k].percent for k in ("top", "right", "bottom")) == 0.0


def test_refusals() -> None:
    with pytest.raises(ValueError, match="too short"):
        overshoot(_step(50, 25), 25, 20)
    with pytest.raises(ValueError, match="no step"):
        overshoot(np.ones(100), 50, 10)

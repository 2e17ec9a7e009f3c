"""Detected against true field edges (processing.quality.field_accuracy)."""

from __future__ import annotations

import pytest

from panelgate.processing.quality import field_accuracy


def test_signed_errors_per_edge_and_the_largest() -> None:
    acc = field_accuracy((10, 20, 200, 180), (11.5, 19.0, 199.25, 183.0))
    assert (acc.left, acc.top, acc.right, acc.bottom) == (-1.5, 1.0, 0.75, -3.0)
    assert acc.max_abs_px == 3.0
    assert not acc.within(2.0) and acc.within(3.0)


def test_a_perfect_detection() -> None:
    acc = field_accuracy((0, 0, 64, 48), (0, 0, 64, 48))
    assert acc.max_abs_px == 0.0 and acc.within(0.0)


@pytest.mark.parametrize("bad", [(10, 0, 5, 20), (0, 30, 10, 20), (0, 0, float("nan"), 10)])
def test_unordered_or_not_finite_fields_are_refused(bad: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="detected field"):
        field_accuracy(bad, (0, 0, 10, 10))  # type: ignore[arg-type]

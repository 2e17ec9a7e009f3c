"""Defect replacement plans: the neighbours each defect is replaced from."""

from __future__ import annotations

import numpy as np
import pytest

from panelgate.calibration import plan_defects


def _entries(plan, i: int) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    w = plan.defects.shape[1]
    return [divmod(int(k), w) for k in plan.neighbours[plan.start[i] : plan.start[i + 1]]]


def test_isolated_defect_gets_all_four_pairs_in_tie_breaking_order() -> None:
    defects = np.zeros((5, 5), np.uint8)
    defects[2, 2] = 1
    plan = plan_defects(defects, directional=True)
    assert plan.pairs.tolist() == [1]
    # horizontal, vertical, diagonal down-right, diagonal down-left; each (before, after)
    assert _entries(plan, 0) == [(2, 1), (2, 3), (1, 2), (3, 2), (1, 1), (3, 3), (1, 3), (3, 1)]


def test_a_line_defect_keeps_only_the_pairs_across_the_line() -> None:
    defects = np.zeros((5, 7), np.uint8)
    defects[2, :] = 16
    plan = plan_defects(defects, directional=True)
    i = int(np.flatnonzero((plan.rows == 2) & (plan.cols == 3))[0])
    assert plan.pairs[i] == 1
    assert _entries(plan, i) == [(1, 3), (3, 3), (1, 2), (3, 4), (1, 4), (3, 2)]


def test_directional_falls_back_to_distance_two_then_to_the_mean_window() -> None:
    defects = np.zeros((7, 7), np.uint8)
    defects[2:5, 2:5] = 128  # 3x3 cluster: the centre has no good pair at distance 1
    plan = plan_defects(defects, directional=True)
    centre = int(np.flatnonzero((plan.rows == 3) & (plan.cols == 3))[0])
    assert plan.pairs[centre] == 1
    assert (1, 3) in _entries(plan, centre) and (5, 3) in _entries(plan, centre)
    # A corner pixel: no opposite pair is good at either distance -> its good 3x3 pixels.
    corner = np.zeros((3, 3), np.uint8)
    corner[0, 0] = corner[0, 1] = corner[1, 0] = 1
    plan = plan_defects(corner, directional=True)
    first = int(np.flatnonzero((plan.rows == 0) & (plan.cols == 0))[0])
    assert plan.pairs[first] == 0
    assert _entries(plan, first) == [(1, 1)]


def test_mean_rule_uses_the_3x3_window_then_5x5_and_nothing_when_all_bad() -> None:
    defects = np.zeros((6, 6), np.uint8)
    defects[1:4, 1:4] = 1
    plan = plan_defects(defects, directional=False)
    centre = int(np.flatnonzero((plan.rows == 2) & (plan.cols == 2))[0])
    assert plan.pairs[centre] == 0
    assert len(_entries(plan, centre)) == 16  # 5x5 minus the 3x3 cluster
    assert all(defects[y, x] == 0 for y, x in _entries(plan, centre))
    everything = plan_defects(np.ones((4, 4), np.uint8), directional=False)
    assert (np.diff(everything.start) == 0).all()  # uncorrectable: keep own value


def test_plan_is_in_raster_order_and_refuses_a_bad_map() -> None:
    rng = np.random.default_rng(0)
    defects = (rng.random((40, 30)) < 0.2).astype(np.uint8)
    plan = plan_defects(defects, directional=True)
    order = plan.rows * 30 + plan.cols
    assert (np.diff(order) > 0).all()
    assert len(plan.rows) == int(defects.astype(bool).sum())
    with pytest.raises(ValueError, match="2-D uint8"):
        plan_defects(defects.astype(np.int32), directional=True)  # type: ignore[arg-type]

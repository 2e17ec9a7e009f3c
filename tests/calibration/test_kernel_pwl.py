"""The multi-point (piecewise-linear) kernel and the directional rule against their oracle."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panelgate.calibration import CalibrationSet, PiecewiseGain, correct
from panelgate.calibration.kernel import correct_pwl_kernel, warm_up
from panelgate.calibration.reference import correct_pwl_reference


def _pwl(rng: np.random.Generator, h: int, w: int, k: int) -> PiecewiseGain:
    knots = np.sort(rng.uniform(500, 40000, k - 1)).astype(np.float64)
    # Per-pixel breaks near the knots (increasing), slopes around 1.
    breaks = (knots[:, None, None] * rng.uniform(0.8, 1.2, (1, h, w))).astype(np.float32)
    breaks = np.ascontiguousarray(np.sort(breaks, axis=0))
    slopes = rng.uniform(0.5, 1.5, (k, h, w)).astype(np.float32)
    return PiecewiseGain(breaks, slopes, knots)


def _calset(
    rng: np.random.Generator, h: int, w: int, k: int, defect_fraction: float, directional: bool
) -> CalibrationSet:
    dark = rng.normal(1000, 60, (h, w)).astype(np.float32)
    defects = (rng.random((h, w)) < defect_fraction).astype(np.uint8)
    if h > 4 and w > 4:
        defects[0, 0] = defects[-1, -1] = defects[0, -1] = defects[-1, 0] = 4  # corners
        defects[h // 2 - 1 : h // 2 + 2, w // 2 - 1 : w // 2 + 2] = 128  # a 3x3 cluster
    pwl = _pwl(rng, h, w, k)
    return CalibrationSet(
        "SN1",
        "mode",
        dark,
        pwl.slopes[0].copy(),
        defects,
        pwl=pwl,
        replacement="directional" if directional else "mean",
    )


def _frame(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    raw = rng.integers(0, 65536, (h, w), dtype=np.uint16)
    raw[rng.random((h, w)) < 0.05] = 0
    raw[rng.random((h, w)) < 0.05] = 65535
    return raw


@pytest.mark.parametrize("directional", [False, True])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (64, 48), (131, 97)])
def test_pwl_kernel_equals_reference(shape: tuple[int, int], k: int, directional: bool) -> None:
    rng = np.random.default_rng(k * 100 + shape[0])
    cal = _calset(rng, *shape, k, 0.05, directional)
    raw = _frame(rng, *shape)
    np.testing.assert_array_equal(
        correct(raw, cal, engine="numba"), correct(raw, cal, engine="numpy")
    )


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 20),
    w=st.integers(1, 20),
    k=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    defect_fraction=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    directional=st.booleans(),
    full_scale=st.sampled_from([255, 16383, 65535]),
)
def test_pwl_kernel_equals_reference_property(
    h: int, w: int, k: int, seed: int, defect_fraction: float, directional: bool, full_scale: int
) -> None:
    rng = np.random.default_rng(seed)
    cal = _calset(rng, h, w, k, defect_fraction, directional)
    raw = _frame(rng, h, w)
    breaks, slopes, knots = cal.kernel_gain
    fast, oracle = np.empty_like(raw), np.empty_like(raw)
    args = (raw, cal.dark, breaks, slopes, knots, cal.defect_plan, 100.0, full_scale)
    correct_pwl_kernel(*args, fast)
    correct_pwl_reference(*args, oracle)
    np.testing.assert_array_equal(fast, oracle)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_one_segment_is_the_single_point_formula(engine: str) -> None:
    rng = np.random.default_rng(7)
    h, w = 40, 30
    dark = rng.normal(1000, 60, (h, w)).astype(np.float32)
    gain = rng.normal(1, 0.1, (h, w)).astype(np.float32)
    defects = (rng.random((h, w)) < 0.05).astype(np.uint8)
    single = CalibrationSet("S", "m", dark, gain, defects)
    pwl = PiecewiseGain(np.empty((0, h, w), np.float32), gain[None].copy(), np.empty(0))
    multi = CalibrationSet("S", "m", dark, gain, defects, pwl=pwl)
    raw = _frame(rng, h, w)
    np.testing.assert_array_equal(
        correct(raw, single, engine=engine),  # type: ignore[arg-type]
        correct(raw, multi, engine=engine),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_piecewise_segments_map_each_pixel_onto_the_knots(engine: str) -> None:
    # One pixel responding 1000 and 3000 counts at two levels whose panel means are
    # 2000 and 4000: segment 0 slope 2, segment 1 slope 1 (and extrapolated beyond).
    h, w = 1, 4
    breaks = np.full((1, h, w), 1000.0, np.float32)
    slopes = np.stack([np.full((h, w), 2.0, np.float32), np.full((h, w), 1.0, np.float32)])
    pwl = PiecewiseGain(breaks, slopes, np.array([2000.0]))
    zeros = np.zeros((h, w), np.float32)
    cal = CalibrationSet("S", "m", zeros, slopes[0], np.zeros((h, w), np.uint8), 0.0, pwl=pwl)
    raw = np.array([[500, 1000, 3000, 5000]], np.uint16)
    out = correct(raw, cal, engine=engine)  # type: ignore[arg-type]
    np.testing.assert_array_equal(out, [[1000, 2000, 4000, 6000]])


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_directional_rule_follows_an_edge(engine: str) -> None:
    # A vertical edge: left half 1000, right half 3000; a defect on the edge column takes
    # the vertical pair (no change) instead of averaging across the edge.
    h, w = 7, 8
    raw = np.full((h, w), 1000, np.uint16)
    raw[:, 4:] = 3000
    defects = np.zeros((h, w), np.uint8)
    defects[3, 4] = 1
    zeros, ones = np.zeros((h, w), np.float32), np.ones((h, w), np.float32)
    directional = CalibrationSet("S", "m", zeros, ones, defects, 0.0, replacement="directional")
    mean = CalibrationSet("S", "m", zeros, ones, defects, 0.0)
    assert correct(raw, directional, engine=engine)[3, 4] == 3000  # type: ignore[arg-type]
    assert correct(raw, mean, engine=engine)[3, 4] == round((3 * 1000 + 5 * 3000) / 8)  # type: ignore[arg-type]


def test_uncorrectable_pixels_are_counted() -> None:
    h, w = 12, 12
    defects = np.zeros((h, w), np.uint8)
    defects[4:7, 4:7] = 128  # 3x3 cluster: centre 0 good, edge middles 3, corners 5
    defects[0, 0] = 1  # a corner pixel has only 3 neighbours, all good: < 5, uncorrectable
    zeros = np.zeros((h, w), np.float32)
    cal = CalibrationSet("S", "m", zeros, zeros, defects)
    bad = cal.uncorrectable()
    assert bad[5, 5] and bad[4, 5] and bad[0, 0]
    assert not bad[4, 4]  # corner of the cluster: 5 good neighbours, correctable
    assert cal.defect_counts()["uncorrectable"] == int(bad.sum())


def test_invalid_piecewise_gain_is_refused_naming_the_shapes() -> None:
    with pytest.raises(ValueError, match="piecewise gain"):
        PiecewiseGain(np.zeros((2, 4, 4), np.float32), np.ones((2, 4, 4), np.float32), np.zeros(1))


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing is compiled")
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("directional", [False, True])
def test_warm_up_covers_the_pwl_signatures(k: int, directional: bool) -> None:
    warm_up()
    before = len(correct_pwl_kernel.signatures)
    rng = np.random.default_rng(3)
    cal = _calset(rng, 300, 200, k, 0.01, directional)
    correct(_frame(rng, 300, 200), cal)
    assert len(correct_pwl_kernel.signatures) == before, "a real frame needed a new compilation"


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_non_monotone_breaks_take_the_last_break_at_or_below(engine: str) -> None:
    # Not produced by multipoint_gain, but the kernel and the oracle must still agree.
    h, w = 1, 3
    breaks = np.array([[[3000, 500, 3000]], [[1000, 1000, 1000]]], np.float32)
    slopes = np.stack([np.full((h, w), v, np.float32) for v in (1.0, 2.0, 3.0)])
    pwl = PiecewiseGain(breaks, slopes, np.array([10000.0, 20000.0]))
    zeros = np.zeros((h, w), np.float32)
    cal = CalibrationSet("S", "m", zeros, zeros, np.zeros((h, w), np.uint8), 0.0, pwl=pwl)
    raw = np.array([[2000, 2000, 3500]], np.uint16)
    # pixel 0: 2000 >= b2 only -> segment 2: (2000-1000)*3 + 20000
    out = correct(raw, cal, engine=engine)  # type: ignore[arg-type]
    np.testing.assert_array_equal(out, [[23000, 23000, 27500]])


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("directional", [False, True])
def test_defects_at_band_edges_read_neighbours_from_the_next_band(
    engine: str, directional: bool
) -> None:
    # The kernel corrects rows in bands of 32 and replaces the defects of the 2 rows at
    # each band edge after every band is done: lines and clusters across rows 30..33 and
    # 62..65 read neighbours on both sides of an edge.
    rng = np.random.default_rng(11)
    h, w = 100, 40
    cal = _calset(rng, h, w, 3, 0.0, directional)
    defects = np.zeros((h, w), np.uint8)
    defects[31, :] = 16  # a line on the last row of band 0
    defects[32, 5:30] = 16  # and a partial line on the first row of band 1
    defects[62:66, 10:14] = 128  # a cluster across the edge between bands 1 and 2
    defects[33, 0] = defects[30, w - 1] = 4
    cal = CalibrationSet("SN1", "mode", cal.dark, cal.gain, defects, pwl=cal.pwl,
                         replacement=cal.replacement)  # fmt: skip
    raw = _frame(rng, h, w)
    got = correct(raw, cal, engine=engine)  # type: ignore[arg-type]
    want = correct(raw, cal, engine="numpy")
    np.testing.assert_array_equal(got, want)
    # The oracle really did replace them: a line pixel is its vertical pair's mean.
    plain = correct(raw, dataclasses.replace(cal, defects=np.zeros_like(defects)), engine="numpy")
    if directional:
        # Row 31 at x=2: horizontal pair is defective; the vertical pair (30, 32) is good.
        assert got[31, 2] == (int(plain[30, 2]) + int(plain[32, 2]) + 1) // 2
    else:
        good = [plain[y, x] for y in (30, 32) for x in (1, 2, 3)]
        assert got[31, 2] == (sum(int(v) for v in good) + 3) // 6

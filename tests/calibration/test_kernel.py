"""The numba kernel against its numpy oracle: one test body, both engines."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panelgate.calibration import CalibrationMismatch, CalibrationSet, correct
from panelgate.calibration.kernel import correct_kernel, correct_pwl_kernel, warm_up
from panelgate.calibration.reference import correct_reference


def _calset(rng: np.random.Generator, h: int, w: int, defect_fraction: float) -> CalibrationSet:
    dark = rng.normal(1000, 60, (h, w)).astype(np.float32)
    gain = rng.normal(1.0, 0.1, (h, w)).astype(np.float32)
    gain[rng.random((h, w)) < 0.01] = 0.0  # dead pixels have gain 0
    defects = (rng.random((h, w)) < defect_fraction).astype(np.uint8)
    return CalibrationSet("SN1", "mode", dark, gain, defects, pedestal_counts=100.0)


def _frame(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    raw = rng.integers(0, 65536, (h, w), dtype=np.uint16)
    raw[rng.random((h, w)) < 0.05] = 0  # below the dark level: clipped to 0
    raw[rng.random((h, w)) < 0.05] = 65535  # saturated
    return raw


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (64, 48), (257, 129)])
def test_kernel_equals_reference_on_random_frames(seed: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    cal = _calset(rng, *shape, defect_fraction=0.05)
    raw = _frame(rng, *shape)
    fast = correct(raw, cal, engine="numba")
    oracle = correct(raw, cal, engine="numpy")
    np.testing.assert_array_equal(fast, oracle)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_formula_on_good_pixels(engine: str) -> None:
    dark = np.full((4, 4), 1000.0, dtype=np.float32)
    gain = np.full((4, 4), 2.0, dtype=np.float32)
    cal = CalibrationSet("SN1", "m", dark, gain, np.zeros((4, 4), np.uint8), pedestal_counts=100.0)
    raw = np.array([[1000, 1500, 0, 65535]] * 4, dtype=np.uint16)
    out = correct(raw, cal, engine=engine, full_scale=65535)  # type: ignore[arg-type]
    # (1000-1000)*2+100=100; (1500-1000)*2+100=1100; negative -> 0; huge -> clipped
    np.testing.assert_array_equal(out[0], [100, 1100, 0, 65535])


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_defect_is_mean_of_good_neighbours_and_isolated_cluster_kept(engine: str) -> None:
    h, w = 9, 9
    dark = np.zeros((h, w), np.float32)
    gain = np.ones((h, w), np.float32)
    defects = np.zeros((h, w), np.uint8)
    raw = np.full((h, w), 1000, np.uint16)
    raw[4, 4] = 60000  # a hot pixel among neighbours of 1000 and one of 1090
    raw[3, 3] = 1090
    defects[4, 4] = 2
    defects[0:5, 8] = 1  # a column segment at the edge: neighbours to the left are good
    raw[0:5, 8] = 7
    cal = CalibrationSet("S", "m", dark, gain, defects, pedestal_counts=0.0)
    out = correct(raw, cal, engine=engine)  # type: ignore[arg-type]
    assert out[4, 4] == round((7 * 1000 + 1090) / 8)
    assert (out[0:5, 8] == 1000).all()
    # A pixel whose whole 5x5 neighbourhood is defective keeps its own corrected value.
    defects_all = np.ones((h, w), np.uint8)
    cal_all = CalibrationSet("S", "m", dark, gain, defects_all, pedestal_counts=0.0)
    np.testing.assert_array_equal(correct(raw, cal_all, engine=engine), raw)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 24),
    w=st.integers(1, 24),
    seed=st.integers(0, 2**32 - 1),
    defect_fraction=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    pedestal=st.sampled_from([0.0, 100.0, 1e5]),
    full_scale=st.sampled_from([255, 16383, 65535]),
)
def test_kernel_equals_reference_property(
    h: int, w: int, seed: int, defect_fraction: float, pedestal: float, full_scale: int
) -> None:
    rng = np.random.default_rng(seed)
    cal = _calset(rng, h, w, defect_fraction)
    cal = CalibrationSet(cal.serial, cal.mode_key, cal.dark, cal.gain, cal.defects, pedestal)
    raw = _frame(rng, h, w)
    fast = np.empty_like(raw)
    oracle = np.empty_like(raw)
    args = (raw, cal.dark, cal.gain, cal.defect_plan, pedestal, full_scale)
    correct_kernel(*args, fast)
    correct_reference(*args, oracle)
    np.testing.assert_array_equal(fast, oracle)
    assert fast.max() <= full_scale


def test_wrong_shape_is_a_calibration_mismatch_naming_both_shapes() -> None:
    rng = np.random.default_rng(0)
    cal = _calset(rng, 8, 8, 0.0)
    with pytest.raises(CalibrationMismatch, match=r"\(8, 8\).*\(8, 9\)"):
        correct(np.zeros((8, 9), np.uint16), cal)
    with pytest.raises(CalibrationMismatch, match="float32"):
        correct(np.zeros((8, 8), np.float32), cal)  # type: ignore[arg-type]


def test_out_buffer_is_validated_and_used_in_place() -> None:
    rng = np.random.default_rng(1)
    cal = _calset(rng, 8, 8, 0.1)
    raw = _frame(rng, 8, 8)
    out = np.empty_like(raw)
    assert correct(raw, cal, out) is out
    with pytest.raises(ValueError, match="share memory"):
        correct(raw, cal, raw)
    with pytest.raises(ValueError, match="uint16"):
        correct(raw, cal, np.empty((8, 8), np.int32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="C-contiguous"):
        correct(raw, cal, np.empty((8, 16), np.uint16)[:, ::2])
    with pytest.raises(ValueError, match="engine"):
        correct(raw, cal, engine="cuda")  # type: ignore[arg-type]


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing is compiled")
def test_warm_up_compiles_the_signature_real_frames_use() -> None:
    warm_up()
    before = len(correct_pwl_kernel.signatures)  # correct_kernel runs it
    rng = np.random.default_rng(3)
    cal = _calset(rng, 300, 200, 0.01)  # many defects: np.nonzero gives strided views
    correct(_frame(rng, 300, 200), cal)
    assert len(correct_pwl_kernel.signatures) == before, "a real frame needed a compilation"

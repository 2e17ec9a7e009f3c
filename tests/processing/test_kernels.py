"""Each numba kernel of the presentation pipeline against its numpy oracle.

One test body, both engines; CI repeats this file with NUMBA_DISABLE_JIT=1. The
table-driven kernels (gain curve, tone curve) are held to the interpolation error of their
tables; the others to float32 rounding.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from panelgate.processing import (
    PRESETS,
    GridPattern,
    detect_field,
    equalise,
    log_kerma,
    process,
    suppress_grid,
    tone_map,
)
from panelgate.processing.field import Field, edge_sums
from panelgate.processing.multiscale import expand, reduce
from panelgate.processing.tonescale import ToneWindow

SHAPES = [(16, 16), (33, 47), (128, 96)]


def _scene(rng: np.random.Generator, shape: tuple[int, int]) -> npt.NDArray[np.float32]:
    """A log image: smooth background, a shaded border, noise."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    log = 0.5 * np.sin(x / 7.0) * np.cos(y / 5.0) + rng.normal(0, 0.02, shape)
    log[: h // 5] = -2.0
    log[:, w - w // 6 :] -= 1.5
    return log.astype(np.float32)


@pytest.mark.parametrize("seed", range(3))
def test_log_kernel_equals_the_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    linear = rng.integers(0, 65536, (37, 53), dtype=np.uint16)
    linear[0, :5] = [0, 99, 100, 101, 65535]
    fast = log_kerma(linear, 100.0, 2000.0, engine="numba")
    oracle = log_kerma(linear, 100.0, 2000.0, engine="numpy")
    np.testing.assert_array_equal(fast, oracle)
    assert fast[0, 0] == fast[0, 2] == np.float32(np.log10(0.5 / 2000.0))  # the floor
    assert fast[0, 3] == np.float32(np.log10(1.0 / 2000.0))


@pytest.mark.parametrize("shape", SHAPES)
def test_edge_sums_kernel_equals_oracle(shape: tuple[int, int]) -> None:
    log = _scene(np.random.default_rng(1), shape)
    h, w = shape
    for box in [(0, h, 0, w), (h // 4, h - 2, 3, w // 2)]:
        fast = edge_sums(log, -1.0, box, engine="numba")
        oracle = edge_sums(log, -1.0, box, engine="numpy")
        for a, b in zip(fast, oracle, strict=True):
            np.testing.assert_array_equal(a, b)  # the same additions in the same order
    # the shaded band's edge (rows below h // 5 rise by 2 decades, floored at -1): every
    # column of the whole box sums the step across it, on every second row
    _, row = edge_sums(log, -1.0, (0, h, 0, w))
    assert row[h // 5 - 1] + row[h // 5] > 0.5 * len(range(0, w, 2)) * 1.0


@pytest.mark.parametrize("shape", [*SHAPES, (1, 1), (2, 9)])
def test_reduce_kernel_equals_oracle_and_keeps_a_constant(shape: tuple[int, int]) -> None:
    image = np.random.default_rng(2).normal(0, 1, shape).astype(np.float32)
    fast = reduce(image, engine="numba")
    np.testing.assert_allclose(fast, reduce(image, engine="numpy"), rtol=0, atol=1e-6)
    assert fast.shape == ((shape[0] + 1) // 2, (shape[1] + 1) // 2)
    flat = np.full(shape, 3.25, np.float32)
    np.testing.assert_allclose(reduce(flat, engine="numba"), 3.25, atol=1e-6)
    np.testing.assert_allclose(expand(reduce(flat), shape), 3.25, atol=1e-6)


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("shape", SHAPES)
def test_equalise_kernel_equals_oracle(name: str, shape: tuple[int, int]) -> None:
    log = _scene(np.random.default_rng(3), shape)
    fast = equalise(log, PRESETS[name], 0.02, engine="numba")
    oracle = equalise(log, PRESETS[name], 0.02, engine="numpy")
    np.testing.assert_allclose(fast, oracle, rtol=0, atol=2e-4)


def test_equalise_with_unit_gains_is_the_identity() -> None:
    log = _scene(np.random.default_rng(4), (64, 80))
    plain = PRESETS["chest"].__class__(
        "plain", contrast_power=1.0, edge_gain=1.0, detail_gain=1.0, latitude=1.0, noise_coring=0
    )
    for engine in ("numba", "numpy"):
        out = equalise(log, plain, 0.02, engine=engine)  # type: ignore[arg-type]
        # the gain curve with p = 1 is linear: the pyramid reconstructs the image exactly
        np.testing.assert_allclose(out, log, atol=1e-4)


@pytest.mark.parametrize("axis", [0, 1])
def test_notch_kernel_equals_oracle_and_removes_the_grid(axis: int) -> None:
    h, w = 256, 224
    y, x = np.mgrid[0:h, 0:w]
    along = x if axis == 1 else y
    base = 0.3 * np.sin(along / 17.0)
    log = (base + 0.05 * np.cos(2 * np.pi * 0.31 * along)).astype(np.float32)
    grid = GridPattern(axis, 0.31)
    fast = suppress_grid(log, grid, engine="numba")
    np.testing.assert_allclose(fast, suppress_grid(log, grid, engine="numpy"), atol=1e-5)
    inner = (slice(64, -64), slice(64, -64))  # past the notch's start-up transient
    assert np.abs(fast - base)[inner].max() < 0.01  # the grid's 0.05 is gone, the rest kept


@pytest.mark.parametrize("monochrome1", [True, False])
def test_tone_kernel_matches_oracle_within_a_table_step(monochrome1: bool) -> None:
    processed = _scene(np.random.default_rng(5), (64, 72))
    field = Field(4, 60, 3, 70, (64, 72), 10.0)
    window = ToneWindow(-0.6, 0.6, 4.0)
    fast = tone_map(processed, window, field, 12, monochrome1=monochrome1, engine="numba")
    oracle = tone_map(processed, window, field, 12, monochrome1=monochrome1, engine="numpy")
    assert np.abs(fast.astype(int) - oracle.astype(int)).max() <= 2
    black = 4095 if monochrome1 else 0
    assert (fast[:4] == black).all() and (fast[:, 70:] == black).all()


def test_whole_pipeline_agrees_between_engines() -> None:
    rng = np.random.default_rng(6)
    h, w = 160, 192
    y, x = np.mgrid[0:h, 0:w]
    kerma = 2.0 * np.exp(-0.8 * (np.sin(x / 11) ** 2 + (y / h)))
    counts = 100 + 2000 * kerma * rng.normal(1, 0.02, (h, w))
    counts[:20] = 100
    linear = np.clip(counts, 0, 65535).astype(np.uint16)
    fast = process(linear, 100.0, 2000.0, PRESETS["chest"], engine="numba")
    oracle = process(linear, 100.0, 2000.0, PRESETS["chest"], engine="numpy")
    assert fast.field == oracle.field
    assert fast.field.top == 20
    assert fast.ei == oracle.ei
    assert np.abs(fast.pixels.astype(int) - oracle.pixels.astype(int)).max() <= 3


def test_detect_field_refuses_what_is_not_a_log_image() -> None:
    with pytest.raises(ValueError, match="float32"):
        detect_field(np.zeros((32, 32), np.float64))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="16x16"):
        detect_field(np.zeros((8, 32), np.float32))

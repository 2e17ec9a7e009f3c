"""The panel's model build is ground truth: a faster build must give the same panel, bit for bit.

``_reference_truth`` below is the fixed-pattern draw exactly as it was written before the
build was made faster (issue 12: the station's start-up); the simulator's build must
give the same maps and, for the same seed, the same frames (darks, floods, a phantom,
low dose with exact Poisson draws, lag from one frame to the next), on square and odd
matrices and with every kind of defect.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from panelgate.simulators import panel
from panelgate.simulators.panel import DefectClass, PanelModel, PanelSpec, PanelTruth

_F32 = npt.NDArray[np.float32]


def _reference_truth(spec: PanelSpec, rng: np.random.Generator) -> PanelTruth:
    """The fixed-pattern draw as written before the faster build (the oracle)."""
    h, w = spec.height, spec.width
    offset = rng.normal(spec.offset_counts, spec.offset_fpn_counts, (h, w)).astype(np.float32)
    offset += rng.normal(0, spec.offset_fpn_counts / 4, (h, 1)).astype(np.float32)
    offset += rng.normal(0, spec.offset_fpn_counts / 4, (1, w)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shading = 1.0 - 0.08 * ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2)
    gain = (shading * rng.normal(1.0, spec.gain_fpn, (h, w))).astype(np.float32)
    tiles = rng.normal(1.0, spec.tile_gain_spread, (spec.tile_rows, spec.tile_cols))
    tile_y = np.minimum(np.arange(h) * spec.tile_rows // h, spec.tile_rows - 1)
    tile_x = np.minimum(np.arange(w) * spec.tile_cols // w, spec.tile_cols - 1)
    gain *= tiles[tile_y][:, tile_x].astype(np.float32)
    gain /= np.float32(gain.mean())
    drift = (spec.drift_counts_per_c * rng.uniform(0.75, 1.25, (h, w))).astype(np.float32)
    drift += (spec.drift_counts_per_c * rng.normal(0, 0.1, (1, w))).astype(np.float32)
    nonlin = rng.normal(0.0, spec.nonlinearity_sigma, (h, w)).astype(np.float32)
    lag = np.full((h, w), spec.lag_fraction, dtype=np.float32)
    read_noise = np.full((h, w), spec.read_noise_counts, dtype=np.float32)
    defects = np.zeros((h, w), dtype=np.uint8)
    _reference_defects(spec, rng, defects, offset, gain, nonlin, lag, read_noise)
    for arr in (offset, gain, defects, drift, nonlin, lag, read_noise):
        arr.flags.writeable = False
    return PanelTruth(offset, gain, defects, drift, nonlin, lag, read_noise, spec.temp_ref_c)


def _reference_defects(
    spec: PanelSpec,
    rng: np.random.Generator,
    defects: npt.NDArray[np.uint8],
    offset: _F32,
    gain: _F32,
    nonlin: _F32,
    lag: _F32,
    read_noise: _F32,
) -> None:
    h, w = defects.shape
    for _ in range(spec.line_defects):
        col = int(rng.integers(w // 8, w - w // 8))
        start = int(rng.integers(0, h // 2))
        defects[start : start + h // 3, col] = DefectClass.LINE
    for _ in range(spec.row_line_defects):
        row = int(rng.integers(h // 8, h - h // 8))
        start = int(rng.integers(0, w // 2))
        defects[row, start : start + w // 3] = DefectClass.LINE
    for _ in range(spec.clusters):
        size_y, size_x = (int(s) for s in rng.integers(3, 7, 2))
        y0 = int(rng.integers(2, h - size_y - 2))
        x0 = int(rng.integers(2, w - size_x - 2))
        blob = defects[y0 : y0 + size_y, x0 : x0 + size_x]
        blob[blob == DefectClass.GOOD] = DefectClass.CLUSTER
    gain[defects == DefectClass.CLUSTER] *= 0.2

    def pick(fraction: float) -> npt.NDArray[np.intp]:
        count = round(fraction * h * w)
        if count == 0:
            return np.empty(0, dtype=np.intp)
        busy = np.zeros((h + 2, w + 2), dtype=bool)
        for dy in range(3):
            for dx in range(3):
                busy[dy : dy + h, dx : dx + w] |= defects != DefectClass.GOOD
        free = np.flatnonzero(~busy[1:-1, 1:-1])
        return np.sort(rng.choice(free, size=min(count, free.size), replace=False))

    n_isolated = round(spec.defect_fraction * h * w)
    picks = pick(spec.defect_fraction)
    dead, hot = picks[: n_isolated // 2], picks[n_isolated // 2 :]
    defects.flat[dead] = DefectClass.DEAD
    defects.flat[hot] = DefectClass.HOT
    offset.flat[hot] = spec.full_scale * 0.9
    noisy = pick(spec.noisy_fraction)
    defects.flat[noisy] = DefectClass.NOISY
    read_noise.flat[noisy] = spec.read_noise_counts * rng.uniform(10.0, 30.0, noisy.size)
    strong = pick(spec.nonlinear_fraction)
    defects.flat[strong] = DefectClass.NONLINEAR
    nonlin.flat[strong] = rng.choice([-1.0, 1.0], strong.size) * rng.uniform(0.1, 0.3, strong.size)
    lagging = pick(spec.lag_pixel_fraction)
    defects.flat[lagging] = DefectClass.LAG
    lag.flat[lagging] = spec.lag_pixel_lag


SPECS = [
    pytest.param(PanelSpec(), 1, id="3072x3072 seed 1 (the station's benchmark panel)"),
    pytest.param(PanelSpec(width=517, height=389, tile_rows=3, tile_cols=7), 5, id="517x389"),
    pytest.param(
        PanelSpec(
            width=300,
            height=200,
            defect_fraction=0.04,
            noisy_fraction=0.03,
            nonlinear_fraction=0.02,
            lag_pixel_fraction=0.04,
            clusters=40,
            line_defects=6,
            row_line_defects=5,
        ),
        9,
        id="300x200 crowded with defects (free pixels run short)",
    ),
    pytest.param(PanelSpec(width=64, height=48, bits_stored=14), 0, id="64x48 14-bit"),
]


def _frames(model: PanelModel) -> list[npt.NDArray[np.uint16]]:
    spec = model.spec
    wedge = np.linspace(0.05, 1.0, spec.width, dtype=np.float32)
    phantom = np.ascontiguousarray(np.broadcast_to(wedge, (spec.height, spec.width)))
    return [
        model.read(),
        model.read(5.0),
        model.read(5.0, phantom, temp_c=35.0),
        model.read(0.05),  # a few quanta per pixel: the exact Poisson draws
        model.read(temp_c=28.0),  # lag of the previous signal
    ]


@pytest.mark.parametrize(("spec", "seed"), SPECS)
def test_model_build_is_bit_identical_to_the_reference(
    spec: PanelSpec, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = PanelModel(spec, seed)
    monkeypatch.setattr(panel, "_make_truth", _reference_truth)
    reference = PanelModel(spec, seed)
    for name in ("offset", "gain", "defects", "drift", "nonlinearity", "lag", "read_noise"):
        ours, theirs = getattr(built.truth(), name), getattr(reference.truth(), name)
        assert ours.dtype == theirs.dtype and not ours.flags.writeable, name
        np.testing.assert_array_equal(ours, theirs, err_msg=name, strict=True)
    assert (built.truth().defects != DefectClass.GOOD).any()
    for i, (ours, theirs) in enumerate(zip(_frames(built), _frames(reference), strict=True)):
        np.testing.assert_array_equal(ours, theirs, err_msg=f"frame {i}", strict=True)

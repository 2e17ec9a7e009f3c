"""The quality measures (processing.quality) on phantoms imaged by a simulated panel.

The wedge's steps, imaged by a panel without fixed-pattern noise, are quantum-limited:
their CNR grows with the square root of the dose and is what Poisson statistics predict
from the truth's transmissions; a nodule of the chest shows against its ring.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from panelgate.processing.quality import field_accuracy, nodule_cnr, wedge_step_cnr
from panelgate.simulators import PanelModel, PanelSpec
from panelgate.simulators.phantoms import Placement, render

N = 256
CLEAN = PanelSpec(
    width=N, height=N, gain_fpn=0.0, tile_gain_spread=0.0, offset_fpn_counts=0.0,
    defect_fraction=0.0, line_defects=0, row_line_defects=0, noisy_fraction=0.0, clusters=0,
    nonlinear_fraction=0.0, nonlinearity_sigma=0.0, lag_fraction=0.0, lag_pixel_fraction=0.0,
)  # fmt: skip


def _signal(model: PanelModel, kerma_ugy: float, transmission: np.ndarray) -> np.ndarray:
    dark = model.truth().offset
    return model.read(kerma_ugy, transmission).astype(np.float64) - dark


def test_wedge_step_cnr_is_quantum_limited_and_grows_with_the_root_of_dose() -> None:
    scene = render(Placement("wedge"), N, N, CLEAN.pixel_pitch_mm, kv=70.0)
    boxes = [(s.rows, s.cols) for s in scene.truth.wedge_steps]
    model = PanelModel(CLEAN, 3)
    low = wedge_step_cnr(_signal(model, 2.0, scene.transmission), boxes)
    high = wedge_step_cnr(_signal(model, 8.0, scene.transmission), boxes)
    q = CLEAN.quanta_per_ugy
    for i, (a, b) in enumerate(zip(low, high, strict=True)):
        assert b.cnr / a.cnr == pytest.approx(2.0, rel=0.15)
        # Poisson: CNR = q K |T_i − T_i+1| / sqrt(q K (T_i + T_i+1) / 2) (read noise small)
        t0, t1 = (s.transmission for s in scene.truth.wedge_steps[i : i + 2])
        expected = math.sqrt(q * 8.0) * abs(t0 - t1) / math.sqrt((t0 + t1) / 2)
        assert b.cnr == pytest.approx(expected, rel=0.15)


def test_the_largest_nodule_stands_out_of_its_ring_in_a_clean_chest() -> None:
    scene = render(Placement("chest", scatter=False), N, N, CLEAN.pixel_pitch_mm, kv=110.0)
    signal = _signal(PanelModel(CLEAN, 4), 20.0, scene.transmission)
    n = max(scene.truth.nodules, key=lambda n: n.diameter_mm)
    measured = nodule_cnr(signal, n.centre_x_px, n.centre_y_px, n.diameter_px)
    assert measured.signal < measured.background  # tissue in lung: less transmitted
    assert measured.cnr > 2.0


def test_field_accuracy_of_the_truth_against_itself_rounded() -> None:
    f = render(Placement.from_keys("open", "20x15@1,-1"), N, N, 0.139, kv=70.0).truth.field
    assert f is not None
    true = f.edges_px
    assert true == (f.x0_px, f.y0_px, f.x1_px, f.y1_px)
    assert field_accuracy(tuple(round(v) for v in true), true).within(0.5)  # type: ignore[arg-type]

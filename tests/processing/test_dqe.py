"""DQE(f) = MTF² / (q·K·NNPS) (IEC 62220-1-1): DQE(0) of a simulated panel against its QE."""

from __future__ import annotations

import numpy as np
import pytest

from panelgate.processing.quality.dqe import PHOTONS_PER_MM2_PER_UGY, detective_quantum_efficiency
from panelgate.processing.quality.mtf import presampling_mtf
from panelgate.processing.quality.nnps import normalised_nps
from panelgate.simulators import PanelModel, PanelSpec
from panelgate.simulators.edge import slanted_edge
from panelgate.simulators.panel import dqe_zero_truth


def test_beam_quality_table_is_iec_62220_1_1_2015() -> None:
    assert PHOTONS_PER_MM2_PER_UGY == {
        "RQA3": 21759.0,
        "RQA5": 29653.0,
        "RQA7": 32362.0,
        "RQA9": 31077.0,
    }


def test_formula_on_known_curves() -> None:
    f = np.linspace(0.0, 3.6, 128)
    mtf = np.exp(-f / 2)
    nnps = np.full_like(f, 2e-5)
    result = detective_quantum_efficiency(f, mtf, f, nnps, air_kerma_ugy=2.5, beam_quality="RQA9")
    expected = mtf[1:] ** 2 / (31077.0 * 2.5 * 2e-5)
    np.testing.assert_allclose(result.dqe[1:], expected, rtol=1e-12)
    assert result.dqe_zero == pytest.approx(float(np.mean(expected[1:13])))


def test_bad_inputs_are_refused() -> None:
    f = np.linspace(0, 1, 10)
    with pytest.raises(ValueError, match="unknown beam quality 'RQA4'"):
        detective_quantum_efficiency(f, f, f, f + 1, air_kerma_ugy=1.0, beam_quality="RQA4")
    with pytest.raises(ValueError, match="air_kerma_ugy"):
        detective_quantum_efficiency(f, f, f, f + 1, air_kerma_ugy=0.0)
    with pytest.raises(ValueError, match="positive"):
        detective_quantum_efficiency(f, f, f, f - 1, air_kerma_ugy=1.0)


@pytest.mark.parametrize("sigma_px", [0.0, 0.6])
def test_dqe_zero_of_a_simulated_panel_within_5_percent_of_its_qe(sigma_px: float) -> None:
    size = 768
    spec = PanelSpec(width=size, height=size, lag_fraction=0.0, mtf_sigma_px=sigma_px)
    model = PanelModel(spec, seed=int(np.random.default_rng().integers(1 << 30)))
    kerma = 4.0
    good = model.truth().defects == 0
    dark = np.mean([model.read(0.0) for _ in range(6)], axis=0)
    flats = np.stack([model.read(kerma) - dark for _ in range(8)])
    gain = flats.mean(axis=0)
    flats = np.where(good, flats, np.median(flats))
    edge = slanted_edge(size, size, angle_deg=2.5)
    image = np.mean([model.read(kerma, edge) for _ in range(3)], axis=0) - dark
    crop = np.s_[size // 2 - 160 : size // 2 + 160, size // 2 - 160 : size // 2 + 160]
    mtf = presampling_mtf(
        (image / np.where(good, gain, 1.0))[crop],
        pixel_pitch_mm=spec.pixel_pitch_mm,
        valid=good[crop],
    )
    nnps = normalised_nps(flats, pixel_pitch_mm=spec.pixel_pitch_mm)
    result = detective_quantum_efficiency(
        mtf.frequency_per_mm, mtf.mtf, nnps.frequency_per_mm, nnps.radial_mm2, air_kerma_ugy=kerma
    )
    assert spec.quantum_efficiency == pytest.approx(0.524, abs=0.001)
    assert result.dqe_zero == pytest.approx(dqe_zero_truth(spec, kerma), rel=0.05)
    assert dqe_zero_truth(spec, kerma) == pytest.approx(spec.quantum_efficiency, rel=0.01)

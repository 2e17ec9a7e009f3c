"""The checks on each calibration flood, and the technique of each level (issue 12).

Floods here are frames of the simulated panel's own physics (:class:`PanelModel`, fresh
seeds) with what the checks must catch put in the beam: a collimator blade, an object, too
much dose, a tube that did not fire.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from panelgate.acquisition.config import CalibrationConfig, ConfigError, parse_config
from panelgate.acquisition.flood_checks import (
    GRID_BLOCKS,
    FloodInspector,
    FloodTolerances,
    block_medians,
)
from panelgate.acquisition.flood_technique import TubeOutput, flood_techniques
from panelgate.drivers.generator import TechniqueLimits, TechniqueOutOfRange
from panelgate.simulators import PanelModel, PanelSpec, air_kerma_ugy

SIZE = 128
_F32 = npt.NDArray[np.float32]


def _panel(seed: int) -> PanelModel:
    return PanelModel(PanelSpec(width=SIZE, height=SIZE, serial="FLOOD"), seed=seed)


def _inspector(model: PanelModel, counts_per_ugy: float | None) -> FloodInspector:
    inspector = FloodInspector(
        FloodTolerances(), full_scale=model.spec.full_scale, counts_per_ugy=counts_per_ugy
    )
    for _ in range(4):
        inspector.add_dark(model.read(0.0))
    return inspector


def _flood(
    model: PanelModel, ugy: float, transmission: _F32 | None = None
) -> npt.NDArray[np.uint16]:
    model.read(0.0)  # no lag from the frame before
    return model.read(ugy, transmission)


@pytest.mark.parametrize("seed", [101, 202])
def test_an_open_field_at_each_level_is_accepted(seed: int) -> None:
    model = _panel(seed)
    inspector = _inspector(model, model.spec.counts_per_ugy)
    for level in (4.0, 8.0, 16.0):
        verdict = inspector.check(_flood(model, level), level)
        assert verdict.accepted, verdict.reason
        assert verdict.signal_counts == pytest.approx(level * model.spec.counts_per_ugy, rel=0.1)


def test_a_collimator_blade_in_a_corner_is_named() -> None:
    model = _panel(303)
    inspector = _inspector(model, model.spec.counts_per_ugy)
    blade = np.ones((SIZE, SIZE), dtype=np.float32)
    blade[: SIZE // 8, SIZE - SIZE // 8 :] = 0.0  # the top right block is in the shadow
    verdict = inspector.check(_flood(model, 8.0, blade), 8.0)
    assert not verdict.accepted
    assert verdict.reason.startswith("non-uniform: the top right corner block is 100 % below")
    assert "tolerance 20 %" in verdict.reason


def test_a_shadow_just_beyond_the_tolerance_is_rejected_and_just_within_accepted() -> None:
    model = _panel(404)
    inspector = _inspector(model, model.spec.counts_per_ugy)
    for transmission, accepted in ((0.65, False), (0.92, True)):
        field = np.ones((SIZE, SIZE), dtype=np.float32)
        field[SIZE // 2 : SIZE // 2 + SIZE // 8, SIZE // 4 : SIZE // 4 + SIZE // 8] = transmission
        verdict = inspector.check(_flood(model, 8.0, field), 8.0)
        assert verdict.accepted is accepted, verdict.reason


def test_saturation_comes_first() -> None:
    model = _panel(505)
    inspector = _inspector(model, model.spec.counts_per_ugy)
    verdict = inspector.check(_flood(model, 40.0), 40.0)  # 80000 counts: beyond 16 bits
    assert verdict.reason.startswith("saturated: ") and "(65535; at most 0.1 %)" in verdict.reason


def test_the_level_is_judged_by_the_panels_stated_counts_per_ugy() -> None:
    model = _panel(606)
    inspector = _inspector(model, model.spec.counts_per_ugy)
    verdict = inspector.check(_flood(model, 4.0), 8.0)  # half the dose asked for
    assert verdict.reason.startswith("level: signal ")
    assert "expected 16000 ± 30 % (2000 counts/µGy the panel states)" in verdict.reason


def test_without_stated_counts_the_level_is_judged_by_linearity_with_the_floods_before() -> None:
    model = _panel(707)
    inspector = _inspector(model, None)
    first = inspector.check(_flood(model, 4.0), 4.0)
    assert first.accepted, first.reason
    inspector.accept(first, 4.0)
    verdict = inspector.check(_flood(model, 8.0), 8.0)
    assert verdict.accepted, verdict.reason
    inspector.accept(verdict, 8.0)
    short = inspector.check(_flood(model, 8.0), 16.0)  # the tube gave half of it
    assert short.reason.startswith("level: ") and "the floods so far gave" in short.reason


def test_a_first_flood_without_signal_is_rejected() -> None:
    model = _panel(808)
    inspector = _inspector(model, None)
    verdict = inspector.check(_flood(model, 0.0), 4.0)
    assert not verdict.accepted
    assert "did the tube fire" in verdict.reason


def test_floods_need_the_darks_first_and_a_frame_as_large_as_the_grid() -> None:
    inspector = FloodInspector(FloodTolerances(), full_scale=65535, counts_per_ugy=None)
    with pytest.raises(ValueError, match="take the darks first"):
        inspector.check(np.zeros((SIZE, SIZE), np.uint16), 4.0)
    with pytest.raises(ValueError, match="smaller than the 8x8 grid"):
        block_medians(np.zeros((4, SIZE), np.uint16))
    assert block_medians(np.zeros((SIZE + 3, SIZE - 5), np.uint16)).shape == (
        GRID_BLOCKS,
        GRID_BLOCKS,
    )


def test_the_default_tube_model_gives_the_wanted_air_kerma_in_the_simulated_room() -> None:
    config = CalibrationConfig()
    techniques = flood_techniques((16.0, 4.0), config, limits=TechniqueLimits(), ma_now=200.0)
    assert [t.level_ugy for t in techniques] == [4.0, 16.0], "lowest first"
    for technique in techniques:
        delivered = air_kerma_ugy(technique.kv, technique.mas, config.flood_sid_m)
        assert delivered == pytest.approx(technique.level_ugy)
        assert technique.exposure_ms == pytest.approx(technique.mas / 200.0 * 1000)


def test_the_tube_model_follows_kv_exponent_and_inverse_square() -> None:
    tube = TubeOutput(ugy_per_mas=40.0, ref_kv=80.0, kv_exponent=2.5)
    assert tube.ugy_per_mas_at(80.0, 1.0) == pytest.approx(40.0)
    assert tube.ugy_per_mas_at(160.0, 2.0) == pytest.approx(40.0 * 2**2.5 / 4)
    assert tube.mas_for(10.0, 80.0, 1.0) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="kv_exponent must be positive"):
        TubeOutput(kv_exponent=0.0)


def test_a_level_beyond_the_generator_is_refused_naming_it() -> None:
    with pytest.raises(TechniqueOutOfRange, match=r"flood level 5000 µGy needs 423 mAs"):
        flood_techniques((4.0, 5000.0), CalibrationConfig(), limits=TechniqueLimits(), ma_now=50)


def test_tolerances_are_fractions_below_one_in_the_configuration() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"calibration": {"flood_uniformity_tolerance": 1.5, "flood_retries": 99}})
    message = str(refused.value)
    assert "[calibration] flood_uniformity_tolerance must be below 1" in message
    assert "[calibration] flood_retries must be 0-20" in message
    config = parse_config({"calibration": {"flood_kv": 80, "tube_output_ugy_per_mas": 42.5}})
    assert (config.calibration.flood_kv, config.calibration.tube_output_ugy_per_mas) == (80, 42.5)

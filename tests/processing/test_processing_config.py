"""The ``[processing]`` section: default preset, polarity, bit depth and preset overrides."""

from __future__ import annotations

import pytest

from panelgate.acquisition.config import Config, parse_config
from panelgate.acquisition.errors import ConfigError
from panelgate.processing import PRESETS, Preset, with_overrides


def test_defaults_are_the_built_in_chest_preset_monochrome1_12_bits() -> None:
    settings = Config().processing
    assert settings.resolve() == PRESETS["chest"]
    assert settings.monochrome1 is True and settings.bits == 12


def test_a_preset_table_overrides_its_fields_only() -> None:
    settings = parse_config(
        {
            "processing": {
                "preset": "spine",
                "bits": 14,
                "extremity": {"edge_gain": 1.6, "levels": 5},
            }
        }
    ).processing
    assert settings.resolve().name == "spine" and settings.bits == 14
    extremity = settings.resolve("extremity")
    assert (extremity.edge_gain, extremity.levels) == (1.6, 5)
    assert extremity.latitude == PRESETS["extremity"].latitude
    assert settings.resolve("chest") == PRESETS["chest"]


def test_every_problem_is_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {
                "processing": {
                    "preset": "knee",
                    "bits": 20,
                    "monochrome1": 1,
                    "chest": {"edge_gain": "high"},
                    "spine": {"latitude": 1.5},
                    "typo": 3,
                }
            }
        )
    message = str(caught.value)
    for part in (
        "preset 'knee' unknown",
        "bits must be 8-16",
        "monochrome1 must be bool",
        "edge_gain must be a number",
        "latitude must be in (0, 1]",
        "unknown key [processing] typo",
    ):
        assert part in message


def test_presets_refuse_values_out_of_range() -> None:
    with pytest.raises(ValueError, match="contrast_power must be in"):
        Preset("x", contrast_power=0.0)
    with pytest.raises(ValueError, match="levels must be an integer"):
        with_overrides(PRESETS["chest"], {"levels": 2.5})
    with pytest.raises(ValueError, match="finite"):
        Preset("x", latitude=float("nan"))

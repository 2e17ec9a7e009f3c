"""``[processing]``: presentation processing, its presets and their overrides.

Example::

    [processing]
    preset = "chest"        # used when the protocol names none
    monochrome1 = true      # MONOCHROME1 For Presentation pixels (bone bright), else MONOCHROME2
    bits = 12               # output bit depth of the tone scale, 8-16

    [processing.extremity]  # any numeric field of a preset (panelgate.processing.Preset)
    edge_gain = 1.6
    noise_coring = 1.0

Every problem (an unknown key or preset, a value of the wrong type or out of range) is
reported with the others of the file.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from panelgate.processing import PRESETS, Preset, preset, with_overrides

from .errors import ConfigError

__all__ = ["ProcessingConfig", "parse_processing"]


@dataclass(frozen=True)
class ProcessingConfig:
    """The ``[processing]`` section: the default preset, polarity, bit depth, presets.

    Parameters
    ----------
    preset : str
        The preset used when the protocol names none.
    monochrome1 : bool
        True: the For Presentation pixels are MONOCHROME1.
    bits : int
        Output bit depth of the tone scale, 8-16.
    presets : mapping of str to Preset
        Every preset, the built-in ones with the configured overrides.

    Raises
    ------
    ConfigError
        An unknown default preset or a bit depth out of range.
    """

    preset: str = "chest"
    monochrome1: bool = True
    bits: int = 12
    presets: Mapping[str, Preset] = field(default_factory=lambda: types.MappingProxyType(PRESETS))

    def __post_init__(self) -> None:
        problems = []
        if self.preset not in self.presets:
            problems.append(f"preset {self.preset!r} unknown (known: {', '.join(self.presets)})")
        if not 8 <= self.bits <= 16:
            problems.append(f"bits must be 8-16, got {self.bits}")
        if problems:
            raise ConfigError("[processing] " + "; ".join(problems))

    def resolve(self, name: str | None = None) -> Preset:
        """Return the preset ``name`` (the default when None).

        Raises
        ------
        ValueError
            No such preset.
        """
        key = self.preset if name is None else name
        if key not in self.presets:
            return preset(key)  # raises, naming the known ones
        return self.presets[key]


_SCALARS: dict[str, type] = {"preset": str, "monochrome1": bool, "bits": int}


def parse_processing(table: Mapping[str, Any], problems: list[str]) -> ProcessingConfig | None:
    """Build the section from its TOML table, adding what is wrong to ``problems``."""
    kwargs: dict[str, Any] = {}
    presets = dict(PRESETS)
    for key, value in table.items():
        if key in _SCALARS:
            if type(value) is not _SCALARS[key]:
                problems.append(
                    f"[processing] {key} must be {_SCALARS[key].__name__}, got {value!r}"
                )
            else:
                kwargs[key] = value
        elif key in PRESETS and isinstance(value, dict):
            try:
                presets[key] = with_overrides(PRESETS[key], value)
            except ValueError as exc:
                problems.append(f"[processing.{key}] {exc}")
        else:
            known = ", ".join([*_SCALARS, *(f"[processing.{p}]" for p in PRESETS)])
            problems.append(f"unknown key [processing] {key} (known: {known})")
    try:
        return ProcessingConfig(presets=types.MappingProxyType(presets), **kwargs)
    except ConfigError as exc:
        problems.append(str(exc))
        return None

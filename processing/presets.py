"""Presentation-processing parameters per protocol preset, as frozen values.

A preset says how strongly each stage of :mod:`panelgate.processing.pipeline` works on one
kind of examination: a chest has a wide dynamic range (lungs against mediastinum) that the
multi-scale stage compresses hard, an extremity little range and fine trabecular detail
that it sharpens. The parameters follow the published descriptions of multi-scale
processing (Vuylsteke & Schoeters, "Multiscale Image Contrast Amplification", SPIE 2167,
1994; Flynn, AAPM 2006 course "Digital Image Processing in Radiography"); the values are
ours, chosen on the simulated phantoms and held by the regression suite in
``tests/processing``.

The configuration's ``[processing]`` section may override any numeric field of any
preset (:func:`with_overrides`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["PRESETS", "Preset", "preset", "with_overrides"]


@dataclass(frozen=True)
class Preset:
    """How the presentation stages render one kind of examination.

    Parameters
    ----------
    name : str
        The preset's name (``chest``, ``extremity``, ...).
    levels : int
        Laplacian pyramid levels (bands) below the residual, 1-10.
    contrast_power : float
        Exponent p of the per-band gain curve y = a·M·(x/M)^p, 0 < p <= 1: the smaller,
        the more subtle detail is amplified against large structures.
    contrast_scale_decades : float
        M of the gain curve: the band amplitude, in decades of air kerma, that keeps its
        size (larger coefficients are compressed, smaller amplified), > 0.
    edge_gain : float
        Gain a of the fine bands (1 and 2): edge enhancement, >= 0 (1 = none).
    detail_gain : float
        Gain a of the middle bands (3 and above), >= 0.
    latitude : float
        Factor on the pyramid residual's deviation from its mean, 0 < l <= 1: dynamic
        range compression of the coarsest structures.
    noise_coring : float
        Soft coring of the finest band at this many noise standard deviations, >= 0
        (0 = no noise suppression).
    max_small_gain : float
        Gain of the curve for the smallest coefficients (noise, subtle detail) relative
        to ``a``, >= 1: the curve is linear below the coefficient where ``(x/M)^(p-1)``
        reaches it (or below twice the noise, if larger).
    low_pct, high_pct : float
        Percentiles of the processed relevant region that the tone scale maps to the
        brightest and darkest grey, 0 <= low < high <= 100.
    tone_contrast : float
        Slope of the sigmoid tone curve (film-like toe and shoulder), > 0.
    """

    name: str
    levels: int = 7
    contrast_power: float = 0.7
    contrast_scale_decades: float = 0.5
    edge_gain: float = 1.3
    detail_gain: float = 1.1
    latitude: float = 0.6
    noise_coring: float = 1.0
    max_small_gain: float = 2.0
    low_pct: float = 0.5
    high_pct: float = 99.5
    tone_contrast: float = 4.0

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError(f"preset {self.name!r}: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Return what is wrong with the parameters, one line each (none: valid)."""
        found = [
            f"{key} must be a finite number, got {value!r}"
            for key, value in self.numbers().items()
            if not math.isfinite(value)
        ]
        if found:
            return found
        checks = [
            (1 <= self.levels <= 10, f"levels must be 1-10, got {self.levels}"),
            (0 < self.contrast_power <= 1, "contrast_power must be in (0, 1]"),
            (self.contrast_scale_decades > 0, "contrast_scale_decades must be > 0"),
            (self.edge_gain >= 0, "edge_gain must be >= 0"),
            (self.detail_gain >= 0, "detail_gain must be >= 0"),
            (0 < self.latitude <= 1, "latitude must be in (0, 1]"),
            (self.noise_coring >= 0, "noise_coring must be >= 0"),
            (self.max_small_gain >= 1, "max_small_gain must be >= 1"),
            (0 <= self.low_pct < self.high_pct <= 100, "need 0 <= low_pct < high_pct <= 100"),
            (self.tone_contrast > 0, "tone_contrast must be > 0"),
        ]
        return [message for ok, message in checks if not ok]

    def numbers(self) -> dict[str, float]:
        """Return the numeric fields by name (what the configuration may override)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "name"}

    def band_gain(self, band: int) -> float:
        """Gain a of pyramid band ``band`` (0 = finest): 1, edge_gain, edge_gain, detail_gain..."""
        if band == 0:
            return 1.0
        return self.edge_gain if band <= 2 else self.detail_gain


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("chest", contrast_power=0.6, latitude=0.45, edge_gain=1.3, tone_contrast=3.5),
        Preset("abdomen", contrast_power=0.7, latitude=0.6, edge_gain=1.2, noise_coring=1.5),
        Preset("pelvis", contrast_power=0.7, latitude=0.6, edge_gain=1.25, noise_coring=1.2),
        Preset("spine", contrast_power=0.65, latitude=0.5, edge_gain=1.3, noise_coring=1.2),
        Preset("skull", contrast_power=0.7, latitude=0.55, edge_gain=1.35),
        Preset(
            "extremity",
            contrast_power=0.8,
            latitude=0.8,
            edge_gain=1.5,
            detail_gain=1.2,
            noise_coring=0.8,
            tone_contrast=5.0,
        ),
    )
}
"""The built-in presets by name."""


def preset(name: str) -> Preset:
    """Return the built-in preset ``name``.

    Raises
    ------
    ValueError
        No such preset (the known ones are named).
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown processing preset {name!r} (known: {', '.join(PRESETS)})"
        ) from None


def with_overrides(base: Preset, overrides: Mapping[str, float | int]) -> Preset:
    """Return ``base`` with some numeric fields replaced, every problem reported at once.

    Raises
    ------
    ValueError
        An unknown field, a value of the wrong type, or values outside their limits.
    """
    known = base.numbers()
    problems = [f"unknown key {key!r}" for key in overrides if key not in known]
    for key, value in overrides.items():
        if key in known and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"{key} must be a number, got {value!r}")
        elif key == "levels" and not isinstance(value, int):
            problems.append(f"levels must be an integer, got {value!r}")
    if problems:
        raise ValueError(f"preset {base.name!r}: " + "; ".join(problems))
    values = {k: (v if k == "levels" else float(v)) for k, v in overrides.items()}
    return dataclasses.replace(base, **values)  # type: ignore[arg-type]

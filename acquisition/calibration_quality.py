"""A stored set's quality figures and their trend against the previous set (``calibration show``).

The figures (residual PRNU and NNU per flood level, :mod:`panelgate.calibration.quality`;
defect pixels per ASTM E2597 class) are read from the manifests. The **previous set** is the
newest stored set of the same detector serial and readout mode whose gain and defect maps
were measured before this one's (a set that only refreshed the dark is no new measurement);
the trend gives, per flood level measured in both (matched by air kerma, or by position
when the levels are unknown), the difference and the ratio of each figure, and the change
of the defect count of each class.
"""

from __future__ import annotations

import math
from typing import Any

from panelgate.calibration import CalibrationStore, StoredSet
from panelgate.calibration.quality import CalibrationQuality, LevelQuality

__all__ = ["defect_counts", "previous_set", "quality_doc", "quality_lines", "trend_doc"]

NOT_MEASURED = "not measured (a set stored before quality figures, or a partial recalibration)"


def _gain_utc(s: StoredSet) -> Any:
    return s.gain_created_utc or s.created_utc


def previous_set(store: CalibrationStore, current: StoredSet) -> StoredSet | None:
    """Return the set measured before ``current`` on the same detector and mode, if any."""
    earlier = [
        s
        for s in store.sets()
        if s.serial == current.serial
        and s.mode_key == current.mode_key
        and s.set_id != current.set_id
        and _gain_utc(s) < _gain_utc(current)
    ]
    return max(earlier, key=_gain_utc, default=None)


def defect_counts(store: CalibrationStore, s: StoredSet) -> dict[str, int]:
    """Pixels per defect class, ``total`` and ``uncorrectable``; from the map for older sets."""
    if s.defect_counts is not None:
        return dict(s.defect_counts)
    return store.load(s.set_id).defect_counts()


def _num(value: float) -> float | None:
    return None if math.isnan(value) else value


def quality_doc(quality: CalibrationQuality | None) -> dict[str, Any] | None:
    """Return the ``quality`` JSON value: figures per level in %, the worst of each.

    None when the set's figures were not measured.
    """
    if quality is None:
        return None
    return {
        "levels": [lv.to_json() for lv in quality.levels],
        "residual_prnu_max_pct": _num(quality.residual_prnu_max_pct),
        "nnu_max_pct": _num(quality.nnu_max_pct),
    }


def _pairs(
    now: CalibrationQuality, before: CalibrationQuality
) -> list[tuple[LevelQuality, LevelQuality]]:
    """Levels measured in both sets, by air kerma, or by position when the kerma is unknown."""
    pairs = []
    for i, lv in enumerate(now.levels):
        if math.isnan(lv.air_kerma_ugy):
            same = len(now.levels) == len(before.levels)
            match = (
                before.levels[i] if same and math.isnan(before.levels[i].air_kerma_ugy) else None
            )
        else:
            match = next(
                (b for b in before.levels if math.isclose(b.air_kerma_ugy, lv.air_kerma_ugy)),
                None,
            )
        if match is not None:
            pairs.append((lv, match))
    return pairs


def _change(now: float, before: float) -> tuple[float | None, float | None]:
    """Return (difference, ratio); None where either value is unknown or the ratio undefined."""
    if math.isnan(now) or math.isnan(before):
        return None, None
    return now - before, (now / before if before > 0 else None)


def _level_trend(now: LevelQuality, before: LevelQuality) -> dict[str, float | None]:
    prnu_diff, prnu_ratio = _change(now.residual_prnu_pct, before.residual_prnu_pct)
    nnu_diff, nnu_ratio = _change(now.nnu_pct, before.nnu_pct)
    return {
        "air_kerma_ugy": _num(now.air_kerma_ugy),
        "residual_prnu_diff_pct": prnu_diff,
        "residual_prnu_ratio": prnu_ratio,
        "nnu_diff_pct": nnu_diff,
        "nnu_ratio": nnu_ratio,
    }


def trend_doc(store: CalibrationStore, current: StoredSet) -> dict[str, Any]:
    """Return the ``trend`` JSON value of ``current`` against :func:`previous_set`."""
    previous = previous_set(store, current)
    if previous is None:
        return {"previous_set_id": None, "levels": [], "defects_change": None}
    levels = []
    if current.quality is not None and previous.quality is not None:
        levels = [_level_trend(a, b) for a, b in _pairs(current.quality, previous.quality)]
    now, before = defect_counts(store, current), defect_counts(store, previous)
    change = {name: count - before.get(name, 0) for name, count in now.items()}
    return {"previous_set_id": previous.set_id, "levels": levels, "defects_change": change}


def _kerma(value: float | None) -> str:
    return "level ?" if value is None else f"{value:g} µGy"


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.3f} %" if signed else f"{value:.3f} %"


def _ratio(value: float | None) -> str:
    return "" if value is None else f" (x{value:.2f})"


def quality_lines(quality: dict[str, Any] | None, trend: dict[str, Any]) -> list[str]:
    """Return the lines of ``calibration show`` for :func:`quality_doc` and :func:`trend_doc`."""
    if quality is None:
        lines = [f"  quality:   {NOT_MEASURED}"]
    else:
        lines = ["  quality:   residual PRNU and NNU (TG-150), central region, defects excluded"]
        for lv in quality["levels"]:
            lines.append(
                f"    {_kerma(lv['air_kerma_ugy']):<11} PRNU {_pct(lv['residual_prnu_pct'])}"
                f"   NNU {_pct(lv['nnu_pct'])}"
            )
    previous = trend["previous_set_id"]
    if previous is None:
        return [*lines, "  trend:     first set of this detector and mode"]
    lines.append(f"  trend:     against the previous set {previous}")
    for lv in trend["levels"]:
        lines.append(
            f"    {_kerma(lv['air_kerma_ugy']):<11} PRNU "
            f"{_pct(lv['residual_prnu_diff_pct'], True)}{_ratio(lv['residual_prnu_ratio'])}"
            f"   NNU {_pct(lv['nnu_diff_pct'], True)}{_ratio(lv['nnu_ratio'])}"
        )
    if not trend["levels"]:
        lines.append("    quality    no level measured in both sets")
    change = dict(trend["defects_change"])
    lines.append(
        f"    defects    total {change.pop('total'):+d}, uncorrectable "
        f"{change.pop('uncorrectable'):+d}; "
        + ", ".join(f"{name} {count:+d}" for name, count in change.items())
    )
    return lines

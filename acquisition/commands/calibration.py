"""``panelgate calibration list|show ID|export ID --out DIR``: the stored calibration sets.

``list`` and ``show`` take ``--json`` (see :mod:`panelgate.acquisition.jsonout`) and report
each set's validity by the rules of ``[calibration]`` in ``--config FILE`` (defaults
otherwise): when its gain and defect maps expire, how old its dark is, the temperatures it
was measured at, and its status (valid, dark stale, expired, other temperature), judged
with the panel at ``--panel-temp-c`` (default: the temperature of the set's dark).
``show`` also prints the set's quality figures (residual PRNU and NNU per flood level,
defect pixels per class) and their trend against the previous set of the same detector and
mode (:mod:`panelgate.acquisition.calibration_quality`); ``list`` the worst residual PRNU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
from pathlib import Path
from typing import Any

from panelgate.acquisition.calibration_lifecycle import (
    calibration_store,
    utc_now,
    validity_rules,
)
from panelgate.acquisition.calibration_quality import quality_doc, quality_lines, trend_doc
from panelgate.acquisition.config import Config, load_config
from panelgate.acquisition.jsonout import add_json_option, finite, print_json
from panelgate.calibration import (
    CalibrationSet,
    CalibrationStore,
    StoredSet,
    Validity,
    ValidityRules,
)
from panelgate.calibration.export import EXPORT_FORMATS, export_maps

from .args import finite_float

VALIDITY_KEYS = """validity: status (valid, dark stale, expired, other temperature),
      reasons[], gain_expires_utc, dark_age_s, gain_created_utc, gain_temp_c
      (null: unknown), derived_from (null: measured whole)"""
LIST_KEYS = f"""
  store          the store folder
  sets[]         newest first, each:
    set_id, serial, mode_key, created_utc (ISO 8601, the dark's),
    temp_c (null: unknown), n_dark, n_flood, gain_points (1: single-point),
    residual_prnu_max_pct (null: not measured),
    {VALIDITY_KEYS}
"""
SHOW_KEYS = f"""
  set_id, path, serial, mode_key, width_px, height_px, created_utc (ISO 8601),
  temp_c (null: unknown), n_dark, n_flood, pedestal_counts,
  gain_points (1: single-point), gain_levels_ugy[],
  defects: total, uncorrectable, by_flag {{flag name: pixel count}},
  quality (null: not measured): levels[] {{air_kerma_ugy (null: unknown),
      residual_prnu_pct, nnu_pct (null: unknown)}}, residual_prnu_max_pct, nnu_max_pct
  trend: previous_set_id (null: first set of this detector and mode),
      levels[] {{air_kerma_ugy, residual_prnu_diff_pct, residual_prnu_ratio,
      nnu_diff_pct, nnu_ratio}} (levels measured in both sets; now minus before, now
      over before), defects_change {{flag name, total, uncorrectable: pixels now minus
      before}} (null: first set)
  {VALIDITY_KEYS}
"""

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``calibration`` sub-command and its actions."""
    cal = sub.add_parser(
        "calibration",
        help="list, show or export stored calibration sets",
        description="Inspect the calibration store (default ~/.local/share/panelgate/"
        "calibration, or $PANELGATE_HOME/calibration, or --store DIR).",
    )
    actions = cal.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_text in (
        ("list", "list the stored sets, newest first"),
        ("show", "show one set: identity, conditions, defect counts"),
        ("export", "write a set's maps as .npy or TIFF files"),
    ):
        action = actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument("--store", type=Path, metavar="DIR", help="calibration store")
        action.add_argument(
            "--config", type=Path, metavar="FILE",
            help="[calibration] store directory and validity rules (defaults otherwise)",
        )  # fmt: skip
        if name != "list":
            action.add_argument("set_id", metavar="ID", help="calibration set id")
        if name == "export":
            action.add_argument(
                "--out", type=Path, required=True, metavar="DIR", help="created if missing"
            )
            action.add_argument("--format", choices=EXPORT_FORMATS, default="npy")
        else:
            action.add_argument(
                "--panel-temp-c", type=finite_float, metavar="T",
                help="judge the temperature rules with the panel at T °C (default: the "
                "temperature of each set's dark)",
            )  # fmt: skip
            add_json_option(action, LIST_KEYS if name == "list" else SHOW_KEYS)
        action.set_defaults(handler=globals()[f"_{name}"])


def _store(args: argparse.Namespace) -> tuple[CalibrationStore, ValidityRules]:
    """Open the store and read the validity rules of ``--store`` and ``--config``."""
    config = load_config(args.config) if args.config is not None else Config()
    return calibration_store(config.calibration, args.store), validity_rules(config.calibration)


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _validity_doc(validity: Validity, s: StoredSet) -> dict[str, Any]:
    return {
        "status": validity.status.value,
        "reasons": list(validity.reasons),
        "gain_expires_utc": _iso(validity.gain_expires_utc),
        "dark_age_s": validity.dark_age_s,
        "gain_created_utc": _iso(s.gain_created_utc or s.created_utc),
        "gain_temp_c": finite(s.temp_c if s.gain_temp_c is None else s.gain_temp_c),
        "derived_from": s.derived_from,
    }


def _judge(s: StoredSet, args: argparse.Namespace, rules: ValidityRules) -> Validity:
    temp_c = s.temp_c if args.panel_temp_c is None else args.panel_temp_c
    return s.validity(temp_c, utc_now(), rules)


def _age(age_s: float | None) -> str:
    if age_s is None:
        return "—"
    if age_s < 120:
        return f"{age_s:.0f} s"
    if age_s < 7200:
        return f"{age_s / 60:.0f} min"
    if age_s < 172800:
        return f"{age_s / 3600:.1f} h"
    return f"{age_s / 86400:.1f} d"


def _listed(s: StoredSet) -> dict[str, Any]:
    return {
        "set_id": s.set_id,
        "serial": s.serial,
        "mode_key": s.mode_key,
        "created_utc": s.created_utc.isoformat(),
        "temp_c": finite(s.temp_c),
        "n_dark": s.n_dark,
        "n_flood": s.n_flood,
        "gain_points": s.segments,
        "residual_prnu_max_pct": _prnu_max(s),
    }


def _prnu_max(s: StoredSet) -> float | None:
    return None if s.quality is None else finite(s.quality.residual_prnu_max_pct)


def _shown(cal: CalibrationSet, path: Path) -> dict[str, Any]:
    counts = cal.defect_counts()
    total, uncorrectable = counts.pop("total"), counts.pop("uncorrectable")
    h, w = cal.shape
    return {
        "set_id": cal.set_id,
        "path": str(path),
        "serial": cal.serial,
        "mode_key": cal.mode_key,
        "width_px": w,
        "height_px": h,
        "created_utc": cal.created_utc.isoformat(),
        "temp_c": finite(cal.temp_c),
        "n_dark": cal.n_dark,
        "n_flood": cal.n_flood,
        "pedestal_counts": cal.pedestal_counts,
        "gain_points": cal.pwl.segments if cal.pwl is not None else 1,
        "gain_levels_ugy": list(cal.pwl.levels_ugy) if cal.pwl is not None else [],
        "defects": {"total": total, "uncorrectable": uncorrectable, "by_flag": counts},
    }


def _list(args: argparse.Namespace) -> int:
    store, rules = _store(args)
    sets = store.sets()
    judged = [(s, _judge(s, args, rules)) for s in sets]
    if args.json:
        documents = [_listed(s) | _validity_doc(v, s) for s, v in judged]
        print_json({"store": str(store.root), "sets": documents})
        return 0
    if not sets:
        print(f"no calibration sets in {store.root}")
        return 0
    print(
        f"{'ID':<16}  {'SERIAL':<12}  {'MODE':<32}  {'CREATED (UTC)':<19}  TEMP °C  GAIN     "
        f"PRNU %  {'STATUS':<17}  {'EXPIRES (UTC)':<16}  DARK AGE"
    )
    for s, v in judged:
        temp = "   —" if math.isnan(s.temp_c) else f"{s.temp_c:7.1f}"
        gain = f"{s.segments}-point" if s.segments > 1 else "1-point"
        created = s.created_utc.strftime("%Y-%m-%d %H:%M:%S")
        expires = f"{v.gain_expires_utc:%Y-%m-%d %H:%M}" if v.gain_expires_utc else "—"
        prnu = _prnu_max(s)
        prnu_text = "     —" if prnu is None else f"{prnu:6.3f}"
        print(
            f"{s.set_id:<16}  {s.serial:<12}  {s.mode_key:<32}  {created:<19}  {temp}  "
            f"{gain:<7}  {prnu_text}  {v.status.value:<17}  {expires:<16}  {_age(v.dark_age_s)}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    store, rules = _store(args)
    cal = store.load(args.set_id)
    stored = store.describe(cal.set_id)
    validity = _judge(stored, args, rules)
    quality, trend = quality_doc(stored.quality), trend_doc(store, stored)
    if args.json:
        shown = _shown(cal, store.root / cal.set_id) | {"quality": quality, "trend": trend}
        print_json(shown | _validity_doc(validity, stored))
        return 0
    counts = cal.defect_counts()
    h, w = cal.shape
    gain = f"{cal.pwl.segments}-point piecewise" if cal.pwl is not None else "single-point"
    levels = ""
    if cal.pwl is not None and cal.pwl.levels_ugy:
        levels = " at " + ", ".join(f"{v:g}" for v in cal.pwl.levels_ugy) + " µGy"
    print(f"calibration set {cal.set_id} ({store.root / cal.set_id})")
    print(f"  detector:  {cal.serial}")
    print(f"  mode:      {cal.mode_key} ({w}x{h})")
    temp = "temperature unknown" if math.isnan(cal.temp_c) else f"panel {cal.temp_c:.1f} °C"
    print(f"  created:   {cal.created_utc.isoformat()}  {temp}")
    print(f"  frames:    {cal.n_dark} darks, {cal.n_flood} floods")
    print(f"  gain:      {gain}{levels}; pedestal {cal.pedestal_counts:g} counts")
    print(f"  defects:   {counts.pop('total')} ({counts.pop('uncorrectable')} uncorrectable)")
    for name, count in counts.items():
        print(f"    {name:<11} {count}")
    for line in quality_lines(quality, trend):
        print(line)
    _print_validity(cal, stored, validity)
    return 0


def _print_validity(cal: CalibrationSet, stored: StoredSet, validity: Validity) -> None:
    gain_temp = "temperature unknown"
    if not math.isnan(cal.gain_at_temp_c):
        gain_temp = f"panel {cal.gain_at_temp_c:.1f} °C"
    print(f"  measured:  gain and defects {cal.gain_utc.isoformat()}  {gain_temp}")
    if stored.derived_from:
        print(f"  derived:   fresh dark; gain and defects kept from {stored.derived_from}")
    expires = "—"
    if validity.gain_expires_utc is not None:
        expires = f"{validity.gain_expires_utc:%Y-%m-%d %H:%M:%S} UTC"
    print(f"  expires:   {expires} (gain and defects)")
    print(f"  dark age:  {_age(validity.dark_age_s)}")
    print(f"  validity:  {validity}")


def _export(args: argparse.Namespace) -> int:
    calset = _store(args)[0].load(args.set_id)
    for path in export_maps(calset, args.out, args.format):
        print(path)
    return 0

"""``panelgate calibration list|show ID|export ID --out DIR``: the stored calibration sets.

``list`` and ``show`` take ``--json`` (see :mod:`panelgate.acquisition.jsonout`).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from panelgate.acquisition.calrun import default_store_dir
from panelgate.acquisition.jsonout import add_json_option, finite, print_json
from panelgate.calibration import CalibrationSet, CalibrationStore, StoredSet
from panelgate.calibration.export import EXPORT_FORMATS, export_maps

LIST_KEYS = """
  store          the store folder
  sets[]         newest first, each:
    set_id, serial, mode_key, created_utc (ISO 8601),
    temp_c (null: unknown), n_dark, n_flood, gain_points (1: single-point)
"""
SHOW_KEYS = """
  set_id, path, serial, mode_key, width_px, height_px, created_utc (ISO 8601),
  temp_c (null: unknown), n_dark, n_flood, pedestal_counts,
  gain_points (1: single-point), gain_levels_ugy[],
  defects: total, uncorrectable, by_flag {flag name: pixel count}
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
        if name != "list":
            action.add_argument("set_id", metavar="ID", help="calibration set id")
        if name == "export":
            action.add_argument(
                "--out", type=Path, required=True, metavar="DIR", help="created if missing"
            )
            action.add_argument("--format", choices=EXPORT_FORMATS, default="npy")
        else:
            add_json_option(action, LIST_KEYS if name == "list" else SHOW_KEYS)
        action.set_defaults(handler=globals()[f"_{name}"])


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
    }


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
    store = CalibrationStore(default_store_dir(args.store))
    sets = store.sets()
    if args.json:
        print_json({"store": str(store.root), "sets": [_listed(s) for s in sets]})
        return 0
    if not sets:
        print(f"no calibration sets in {store.root}")
        return 0
    print(f"{'ID':<16}  {'SERIAL':<12}  {'MODE':<32}  {'CREATED (UTC)':<19}  TEMP °C  GAIN")
    for s in sets:
        temp = "   —" if math.isnan(s.temp_c) else f"{s.temp_c:7.1f}"
        gain = f"{s.segments}-point" if s.segments > 1 else "1-point"
        created = s.created_utc.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{s.set_id:<16}  {s.serial:<12}  {s.mode_key:<32}  {created:<19}  {temp}  {gain}")
    return 0


def _show(args: argparse.Namespace) -> int:
    store = CalibrationStore(default_store_dir(args.store))
    cal = store.load(args.set_id)
    if args.json:
        print_json(_shown(cal, store.root / cal.set_id))
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
    return 0


def _export(args: argparse.Namespace) -> int:
    calset = CalibrationStore(default_store_dir(args.store)).load(args.set_id)
    for path in export_maps(calset, args.out, args.format):
        print(path)
    return 0

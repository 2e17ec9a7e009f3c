"""``panelgate calibration list|show ID|export ID --out DIR``: the stored calibration sets."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from panelgate.acquisition.calrun import default_store_dir
from panelgate.calibration import CalibrationStore

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
            action.add_argument("--out", type=Path, required=True, metavar="DIR")
            action.add_argument("--format", choices=["npy", "tiff"], default="npy")
        action.set_defaults(handler=globals()[f"_{name}"])


def _list(args: argparse.Namespace) -> int:
    store = CalibrationStore(default_store_dir(args.store))
    sets = store.sets()
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
    store = CalibrationStore(default_store_dir(args.store))
    for path in store.export(args.set_id, args.out, args.format):
        print(path)
    return 0

"""How ``panelgate expose`` obtains the calibration it applies (its options and its choice).

By default the newest valid stored set of the panel's serial number and readout mode
(:func:`~panelgate.acquisition.calibration_lifecycle.select_calibration`); none is a
refusal before PREP (exit 2) naming ``panelgate calibrate all ...``. ``--quick-calibration``
measures a throw-away set from a few darks and floods instead, on a simulated panel only
(panelgate fires no X-rays at a real one for floods).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from panelgate.acquisition.calibration_lifecycle import (
    CalibrationHolder,
    calibrate_command,
    calibration_store,
    select_calibration,
    utc_now,
    validity_rules,
)
from panelgate.acquisition.config import Config
from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.exposure import quick_calibration
from panelgate.acquisition.pipeline import Pipeline
from panelgate.calibration import warm_up

__all__ = ["QUICK_CAL_FRAMES", "add_calibration_options", "obtain_calibration"]

QUICK_CAL_FRAMES = 4
"""Darks and floods of a ``--quick-calibration``."""


def add_calibration_options(parser: Any) -> None:
    """Add ``--store`` and ``--quick-calibration`` to the ``expose`` parser."""
    parser.add_argument(
        "--store", type=Path, metavar="DIR",
        help="calibration store (default: [calibration] directory, $PANELGATE_HOME/calibration "
        "or ~/.local/share/panelgate/calibration)",
    )  # fmt: skip
    parser.add_argument(
        "--quick-calibration", action="store_true",
        help=f"simulated panels only: calibrate from {QUICK_CAL_FRAMES} darks and "
        f"{QUICK_CAL_FRAMES} floods now instead of using the stored set (not stored)",
    )  # fmt: skip


def obtain_calibration(
    args: argparse.Namespace, config: Config, pipeline: Pipeline, *, simulated: bool
) -> CalibrationHolder:
    """Return the calibration the exposure applies, its dark kept fresh by the rules.

    Parameters
    ----------
    args : argparse.Namespace
        ``--detector``, ``--store``, ``--quick-calibration``.
    config : Config
        ``[calibration]``: store, validity rules, frames of a fresh dark.
    pipeline : Pipeline
        Over the connected panel, in its readout mode.
    simulated : bool
        Whether panelgate can dose the panel (floods for a quick calibration).

    Raises
    ------
    UsageError
        ``--quick-calibration`` on a panel that is not simulated.
    CalibrationNotFound
        No valid stored set for the panel and mode (the message names the fix).
    """
    detector = pipeline.detector
    rules = validity_rules(config.calibration)
    common: dict[str, Any] = {
        "rules": rules,
        "dark_frames": config.calibration.refresh_dark_frames,
        "panel_temp_c": lambda: detector.status().temp_c,
        "report": lambda line: print(line, flush=True),
    }
    if args.quick_calibration:
        if not simulated:
            raise UsageError(
                f"--quick-calibration needs a simulated panel (its floods need X-rays "
                f"panelgate cannot fire at {args.detector}): use the stored calibration"
            )
        print(
            f"quick calibration ({QUICK_CAL_FRAMES} darks, {QUICK_CAL_FRAMES} floods) on the "
            "simulated panel, not stored",
            flush=True,
        )
        warm_up()
        return CalibrationHolder(quick_calibration(pipeline, QUICK_CAL_FRAMES), **common)
    store = calibration_store(config.calibration, args.store)
    named = args.store is not None or bool(config.calibration.directory)
    mode = detector.mode
    now = utc_now()
    calibration = select_calibration(
        store,
        serial=pipeline.info.serial,
        mode=mode,
        temp_c=detector.status().temp_c,
        rules=rules,
        fix=calibrate_command(args.detector, mode, store.root if named else None),
        now_utc=now,
    )
    validity = calibration.validity(
        calibration.serial, mode.key, detector.status().temp_c, now_utc=now, rules=rules
    )
    expires = ""
    if validity.gain_expires_utc is not None:
        expires = f"; gain and defects expire {validity.gain_expires_utc:%Y-%m-%d %H:%M} UTC"
    print(f"calibration: set {calibration.set_id}, {validity}{expires}", flush=True)
    warm_up()
    return CalibrationHolder(calibration, store=store, **common)

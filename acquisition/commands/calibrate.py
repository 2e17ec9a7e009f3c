"""``panelgate calibrate dark|gain|defects|all``: measure calibration maps and store them.

From a detector (``--detector URL``), or offline from recorded stacks (``all`` only:
``--darks FILE --floods FILE [FILE ...] --serial S``). Progress goes to stderr, the summary
(what was measured, defect counts per class, validity, where it is stored) to stdout.

Floods of any panel are fired through the generator (``--generator PORT``, or ``sim`` on
``--room DIR``): the technique of each level from ``[calibration]``'s tube-output model,
the operator told what to do and asked to confirm each level on the terminal (``--yes``:
nobody is asked, for test rigs and CI), each flood checked before it is accepted
(:mod:`~panelgate.acquisition.generator_floods`). Without ``--generator`` only a simulated
panel gets floods, from its built-in calibration source.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from panelgate.acquisition.calibration_lifecycle import calibration_store
from panelgate.acquisition.calrun import (
    CalibrationPlan,
    calibrate_from_stacks,
    measure_dark,
    measure_floods,
    run_calibration,
)
from panelgate.acquisition.config import Config, load_config
from panelgate.acquisition.detectors import open_detector
from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.generator_floods import operator_for
from panelgate.acquisition.offline_inputs import open_offline_inputs
from panelgate.acquisition.pipeline import Pipeline
from panelgate.calibration import (
    CalibrationNotFound,
    CalibrationSet,
    CalibrationStore,
    build_calibration,
)
from panelgate.drivers import Detector, Frame, ReadoutMode
from panelgate.simulators import Irradiable

from .args import finite_float, frame_count, positive_seconds
from .calibrate_floods import FloodSource, add_generator_options

__all__ = ["DEFAULT_LEVELS_UGY", "levels", "progress", "register", "summary"]

DEFAULT_LEVELS_UGY = (4.0, 8.0, 16.0)
"""Flood levels of a calibration from a detector when ``--levels`` is not given."""


def levels(text: str) -> tuple[float, ...]:
    """Parse flood levels ``4,8,16`` (µGy): finite, > 0, strictly increasing."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected levels in µGy like 4,8,16, got {text!r}"
        ) from None
    if any(not (0 < v < 1e4) for v in values):  # NaN fails the comparison too
        raise argparse.ArgumentTypeError(f"levels must be finite and > 0 µGy, got {text!r}")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise argparse.ArgumentTypeError(
            f"levels must be distinct and strictly increasing (lowest dose first), got {text!r}"
        )
    return values


def progress(phase: str, done: int, total: int) -> None:
    """Show progress on stderr: a bar on a terminal, a line per phase otherwise."""
    if sys.stderr.isatty():
        if total:
            bar = "#" * (20 * done // total)
            print(f"\rcalibrate: {phase:<18} [{bar:<20}] {done}/{total}", end="", file=sys.stderr)
        else:
            print(f"\rcalibrate: {phase:<18} {done}", end="", file=sys.stderr)
        if total and done == total:
            print(file=sys.stderr)
    elif done == total:
        print(f"calibrate: {phase} done ({done})", file=sys.stderr)


def register(sub: Any) -> None:
    """Add the ``calibrate`` sub-command."""
    cal = sub.add_parser(
        "calibrate",
        help="measure dark, gain and defect maps (from a detector or recorded stacks)",
        description="Measure calibration maps and store them as a new calibration set. "
        "'all' takes darks, floods at each level and a lag dark; 'dark', 'gain' and "
        "'defects' re-measure one part of the newest set of the detector and mode.",
    )
    cal.add_argument("target", choices=["dark", "gain", "defects", "all"], help="what to measure")
    cal.add_argument("--detector", metavar="URL", help="detector URL, e.g. sim://?seed=3")
    cal.add_argument("--frames", type=frame_count, default=32, metavar="N", help="darks (32)")
    cal.add_argument(
        "--flood-frames", type=frame_count, default=16, metavar="N", help="floods per level (16)"
    )
    cal.add_argument(
        "--levels", type=levels, metavar="L1,L2,..",
        help="flood air kerma per level in µGy, increasing (default 4,8,16 from a detector; "
        "offline: one per --floods file, required for a multi-point gain from several)",
    )  # fmt: skip
    cal.add_argument("--single-point", action="store_true", help="single-point gain only")
    cal.add_argument(
        "--exposure-s", type=positive_seconds, metavar="S",
        help="integration (s; default [detector] exposure_s of --config, 0.1)",
    )  # fmt: skip
    cal.add_argument(
        "--store", type=Path, metavar="DIR",
        help="calibration store directory (default: [calibration] directory of --config, "
        "$PANELGATE_HOME/calibration or ~/.local/share/panelgate/calibration)",
    )  # fmt: skip
    cal.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    add_generator_options(cal)
    offline = cal.add_argument_group("offline, from recorded stacks (.npy or multi-page TIFF)")
    offline.add_argument("--darks", type=Path, metavar="FILE", help="dark frame stack")
    offline.add_argument("--floods", type=Path, nargs="+", metavar="FILE", help="one per level")
    offline.add_argument("--lag", type=Path, metavar="FILE", help="dark read right after floods")
    offline.add_argument("--serial", metavar="S", help="serial of the detector that took them")
    offline.add_argument("--bits", type=int, choices=[14, 16], default=16, help="bits stored")
    offline.add_argument(
        "--temp-c", type=finite_float, default=math.nan, help="panel temperature °C"
    )
    cal.set_defaults(handler=_calibrate)


def _calibrate(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else Config()
    if args.exposure_s is None:
        args.exposure_s = config.detector.exposure_s
    store = calibration_store(config.calibration, args.store)
    plan = CalibrationPlan(
        dark_frames=args.frames,
        flood_frames=args.flood_frames,
        levels_ugy=tuple(args.levels or DEFAULT_LEVELS_UGY),
        multipoint=not args.single_point,
    )
    if args.darks is not None or args.floods:
        return _offline(args, store)
    if args.detector is None:
        raise UsageError("calibrate needs --detector URL, or --darks/--floods/--serial stacks")
    if args.room is not None and args.generator != "sim":
        raise UsageError("--room is for --generator sim (a real tube irradiates its room)")
    by_generator = args.generator is not None and args.target != "dark"
    # Refused before anything moves: no one to confirm the floods, or no way to make them.
    operator = (
        operator_for(args.yes, sys.stdin, sys.stderr, config.calibration.flood_retries)
        if by_generator
        else None
    )
    detector = open_detector(args.detector)
    if args.target != "dark" and not by_generator and not isinstance(detector, Irradiable):
        raise UsageError(
            f"calibrate {args.target} needs floods, and panelgate cannot fire X-rays for "
            f"{args.detector!r} without a generator: give --generator PORT, or calibrate "
            "offline with --darks/--floods"
        )
    config = dataclasses.replace(
        config, detector=dataclasses.replace(config.detector, exposure_s=args.exposure_s)
    )
    with ExitStack() as stack:
        floods: FloodSource | None = None
        if operator is not None:
            floods = FloodSource(args, config, plan, operator, stack)
        stack.enter_context(detector)
        pipeline = _pipeline(detector, config, simulated_beam=floods is None)
        expose = pipeline.expose if floods is None else floods.expose(pipeline, store.root)
        calset, measured = _online(args.target, pipeline, expose, plan, store)
        temp_c = detector.status().temp_c
    if floods is not None:
        measured += floods.report()
    path = _save_new(store, calset)
    print(summary(calset, measured, path, temp_c))
    return 0


def _pipeline(detector: Detector, config: Config, *, simulated_beam: bool) -> Pipeline:
    """Return a pipeline over the panel in its full readout mode.

    With a simulated panel's calibration source only when no generator fires the floods.
    """
    info = detector.info
    if not (info.sensor_width_px and info.sensor_height_px):
        raise UsageError(f"{info.model} {info.serial} does not report its sensor size")
    beam = detector.irradiate if simulated_beam and isinstance(detector, Irradiable) else None
    pipeline = Pipeline(detector, config, beam=beam)
    pipeline.configure(info.sensor_width_px, info.sensor_height_px)
    return pipeline


def _online(
    target: str,
    pipeline: Pipeline,
    expose: Callable[[float], Frame],
    plan: CalibrationPlan,
    store: CalibrationStore,
) -> tuple[CalibrationSet, str]:
    info = pipeline.info
    mode: ReadoutMode = pipeline.detector.mode
    full_scale = 2**info.bits_stored - 1
    if target == "all":
        calset = run_calibration(
            expose, plan, serial=info.serial, mode_key=mode.key,
            full_scale=full_scale, progress=progress,
        )  # fmt: skip
        return calset, _plan_text(plan, lag=True)
    try:
        latest = store.select(info.serial, mode.key)
    except CalibrationNotFound as exc:
        raise CalibrationNotFound(f"{exc}; run 'panelgate calibrate all' first") from None
    dark = measure_dark(expose, plan.dark_frames, mode.key, progress)
    if target == "dark":
        calset = dataclasses.replace(
            latest, dark=dark.mean, temp_c=dark.temp_c, created_utc=dark.created_utc,
            n_dark=dark.n_frames,
        )  # fmt: skip
        return calset, f"{plan.dark_frames} darks (gain and defects kept from {latest.set_id})"
    floods = measure_floods(expose, plan.levels_ugy, plan.flood_frames, progress)
    lag = expose(0.0).pixels.astype("float32") if target == "defects" else None
    fresh = build_calibration(
        dark, floods, serial=info.serial, full_scale=full_scale, lag_dark=lag,
        multipoint=plan.multipoint,
    )  # fmt: skip
    if target == "gain":
        calset = dataclasses.replace(fresh, defects=latest.defects)
        return calset, _plan_text(plan, lag=False) + f" (defects kept from {latest.set_id})"
    calset = dataclasses.replace(latest, defects=fresh.defects)
    return calset, _plan_text(plan, lag=True) + f" (dark and gain kept from {latest.set_id})"


def _plan_text(plan: CalibrationPlan, lag: bool) -> str:
    levels_text = ", ".join(f"{v:g}" for v in sorted(plan.levels_ugy))
    text = (
        f"{plan.dark_frames} darks, {len(plan.levels_ugy)} flood level(s) x "
        f"{plan.flood_frames} frames ({levels_text} µGy)"
    )
    return text + (", 1 lag dark" if lag else "")


def _offline(args: argparse.Namespace, store: CalibrationStore) -> int:
    if args.target != "all":
        raise UsageError("offline calibration from stacks builds 'all' only")
    if args.darks is None or not args.floods or not args.serial:
        raise UsageError("offline calibration needs --darks FILE --floods FILE [...] --serial S")
    if args.detector is not None:
        raise UsageError("give either --detector or recorded stacks, not both")
    inputs = open_offline_inputs(
        args.darks, args.floods, lag=args.lag, levels=args.levels,
        multipoint=not args.single_point,
    )  # fmt: skip
    options = (args.serial, args.bits, args.exposure_s, args.single_point, args.temp_c)
    inputs_sha256 = inputs.fingerprint([repr(o) for o in options])
    done = store.built_from(inputs_sha256)
    if done is not None:
        raise UsageError(
            f"calibration set {done.set_id} was built from these same stacks and options "
            f"and is stored in {done.path}: nothing new to compute or store"
        )
    lag = None if inputs.lag is None else next(iter(inputs.lag))
    h, w = inputs.shape
    mode = ReadoutMode(width=w, height=h, exposure_s=args.exposure_s)
    calset = calibrate_from_stacks(
        inputs.darks, inputs.floods, serial=args.serial, mode_key=mode.key,
        full_scale=2**args.bits - 1, levels_ugy=inputs.levels_ugy, lag_dark=lag,
        temp_c=args.temp_c, multipoint=not args.single_point, progress=progress,
    )  # fmt: skip
    darks, floods = inputs.darks, inputs.floods
    measured = (
        f"{len(darks)} darks from {darks.path}, {len(floods)} flood level(s) "
        f"({', '.join(str(len(f)) for f in floods)} frames)"
        + (", 1 lag dark" if lag is not None else "")
    )
    path = _save_new(store, calset, inputs_sha256)
    print(summary(calset, measured, path, args.temp_c))
    return 0


def _save_new(
    store: CalibrationStore, calset: CalibrationSet, inputs_sha256: str | None = None
) -> Path:
    """Store a set; refuse one already stored (the same inputs give the same content id)."""
    existing = store.stored(calset.set_id)
    if existing is not None:
        raise UsageError(
            f"calibration set {calset.set_id} is already stored in {existing}: these inputs "
            f"give the same maps, so nothing new was stored"
        )
    return store.save(calset, inputs_sha256=inputs_sha256)


def summary(calset: CalibrationSet, measured: str, path: Path, temp_c: float) -> str:
    """Describe a new set: what was measured, defects per class, validity, location."""
    counts = calset.defect_counts()
    classes = ", ".join(
        f"{k} {v}" for k, v in counts.items() if k not in ("total", "uncorrectable")
    )
    gain = (
        f"multi-point, {calset.pwl.segments} segments" if calset.pwl is not None else "single-point"
    )
    validity = calset.validity(calset.serial, calset.mode_key, temp_c)
    pct = 100.0 * counts["total"] / calset.defects.size
    return "\n".join(
        [
            f"calibration set {calset.set_id}",
            f"  detector:   {calset.serial}, mode {calset.mode_key}",
            f"  measured:   {measured}",
            f"  gain:       {gain}; defect replacement {calset.replacement}",
            f"  defects:    {counts['total']} pixels ({pct:.3f} %): {classes}",
            f"  uncorrectable (< 5 good neighbours): {counts['uncorrectable']}",
            f"  validity:   {validity}",
            f"  stored in:  {path}",
        ]
    )

"""``panelgate qc``: detector QC for test rigs (IEC 62220-1-1 MTF, NNPS, DQE; issue 15).

Guided, through the generator link::

    panelgate qc --detector URL --generator PORT|sim [--room DIR] --out DIR [--yes]

takes darks, flats at several air kerma levels, a lag sequence and the edge
(:mod:`~panelgate.acquisition.qc_acquire`). Offline, on recorded stacks (.npy or
multi-page TIFF, as ``calibrate`` reads them)::

    panelgate qc --offline --darks F [F ...] --flats F [F ...] --kerma-ugy K[,K..]
                 [--edge F] [--lag F] --pixel-pitch-mm P --out DIR

Both write ``qc.json`` (every figure, the beam quality, the kerma, the pixel pitch, the
software version), the plots (``mtf.png``, ``nnps.png``, ``dqe.png``,
``nonuniformity.png``) and ``qc.html`` (:mod:`~panelgate.acquisition.qc_report`). Bad
input (a missing file, frames of another shape, an edge tilted outside 1.5-3°) is one line
on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import sys
from contextlib import ExitStack
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from panelgate.acquisition.calibration_lifecycle import calibration_store
from panelgate.acquisition.config import Config, load_config
from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.generator_floods import operator_for
from panelgate.acquisition.qc_acquire import QcPlan, acquire
from panelgate.acquisition.qc_analysis import QcFrames, analyse
from panelgate.acquisition.qc_report import write_report
from panelgate.acquisition.stacks import FrameStack
from panelgate.calibration import CalibrationNotFound, CalibrationStore, correct
from panelgate.drivers import ReadoutMode
from panelgate.processing.quality import PHOTONS_PER_MM2_PER_UGY

from .args import frame_count
from .calibrate import levels
from .calibrate_floods import open_generator

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``qc`` sub-command."""
    qc = sub.add_parser(
        "qc",
        help="detector QC: MTF, NNPS, DQE, linearity, lag, dark noise (IEC 62220-1-1)",
        description="Measure a panel's image-quality figures (IEC 62220-1-1) through the "
        "generator link, or offline from recorded stacks, and write qc.json, PNG plots and "
        "qc.html into --out.",
    )
    qc.add_argument("--out", type=Path, required=True, metavar="DIR", help="report folder")
    qc.add_argument(
        "--beam-quality", choices=sorted(PHOTONS_PER_MM2_PER_UGY), default="RQA5",
        help="IEC 61267 beam quality of the exposures (RQA5)",
    )  # fmt: skip
    qc.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    qc.add_argument("--store", type=Path, metavar="DIR", help="calibration store (defects)")
    guided = qc.add_argument_group("guided, through the generator")
    guided.add_argument("--detector", metavar="URL", help="detector URL, e.g. usb://sim?seed=3")
    guided.add_argument("--generator", metavar="PORT", help="serial port, or 'sim'")
    guided.add_argument(
        "--room", type=Path, metavar="DIR",
        help="the simulated X-ray room the panel stands in: the in-process generator of "
        "--generator sim irradiates it, and qc places the slanted edge in it",
    )  # fmt: skip
    guided.add_argument("--yes", action="store_true", help="fire every step without asking")
    guided.add_argument(
        "--levels", type=levels, default=QcPlan.levels_ugy, metavar="L1,L2,..",
        help="flat air kerma levels in µGy (2.5,5,10); NNPS and DQE at the middle one",
    )  # fmt: skip
    guided.add_argument("--flat-frames", type=frame_count, default=4, metavar="N")
    guided.add_argument("--dark-frames", type=frame_count, default=8, metavar="N")
    guided.add_argument("--edge-frames", type=frame_count, default=2, metavar="N")
    offline = qc.add_argument_group("offline, from recorded stacks (.npy or multi-page TIFF)")
    offline.add_argument("--offline", action="store_true", help="measure recorded stacks")
    offline.add_argument("--darks", type=Path, nargs="+", metavar="FILE", help="dark stacks")
    offline.add_argument("--flats", type=Path, nargs="+", metavar="FILE", help="flat stacks")
    offline.add_argument(
        "--kerma-ugy", type=levels, metavar="K[,K..]",
        help="air kerma of the flats in µGy: one for all, or one per --flats file",
    )  # fmt: skip
    offline.add_argument("--edge", type=Path, metavar="FILE", help="edge stack (averaged)")
    offline.add_argument("--lag", type=Path, metavar="FILE", help="exposure, then darks after")
    offline.add_argument("--pixel-pitch-mm", type=float, metavar="P", help="pixel pitch, mm")
    offline.add_argument("--serial", metavar="S", help="panel serial (previous defects)")
    qc.set_defaults(handler=_qc)


def _qc(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else Config()
    _check_out(args.out)
    if args.offline:
        frames, header = _offline(args, config)
    else:
        frames, header = _guided(args, config)
    try:
        result = analyse(frames)
    except ValueError as exc:  # a measure refused its input
        raise UsageError(f"qc: {exc}") from None
    header = {
        "software": f"panelgate {metadata.version('panelgate')}",
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **header,
    }
    written = write_report(args.out, result, header=header)
    print(_summary(result.figures, written))
    return 0


def _check_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".qc-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None


def _offline(args: argparse.Namespace, config: Config) -> tuple[QcFrames, dict[str, Any]]:
    if args.detector or args.generator:
        raise UsageError("qc --offline measures recorded stacks: leave out --detector/--generator")
    if not args.darks or not args.flats or args.kerma_ugy is None:
        raise UsageError("qc --offline needs --darks F --flats F --kerma-ugy K")
    if args.pixel_pitch_mm is None or not 0 < args.pixel_pitch_mm < 10:
        raise UsageError("qc --offline needs --pixel-pitch-mm P (0 < P < 10 mm)")
    kerma = args.kerma_ugy
    if len(kerma) not in (1, len(args.flats)):
        raise UsageError(
            f"--kerma-ugy: {len(kerma)} value(s) for {len(args.flats)} --flats file(s); give "
            "one for all or one per file"
        )
    darks = np.concatenate([_read(p) for p in args.darks])
    flats: dict[float, npt.NDArray[Any]] = {}
    for i, path in enumerate(args.flats):
        k = kerma[0] if len(kerma) == 1 else kerma[i]
        stack = _read(path)
        flats[k] = stack if k not in flats else np.concatenate([flats[k], stack])
    edge = _read(args.edge) if args.edge else None
    lag = _read(args.lag) if args.lag else None
    frames = QcFrames(darks, flats, edge, lag, float(args.pixel_pitch_mm), args.beam_quality)
    if args.serial:
        h, w = darks.shape[1:]
        mode = ReadoutMode(width=w, height=h, exposure_s=config.detector.exposure_s)
        frames = _with_calibration(frames, config, args.store, args.serial, mode.key)
    header = {
        "source": "offline",
        "inputs": {
            "darks": [str(p) for p in args.darks],
            "flats": [str(p) for p in args.flats],
            "edge": str(args.edge) if args.edge else None,
            "lag": str(args.lag) if args.lag else None,
        },
        "kerma_source": "given (--kerma-ugy)",
        "detector": {"serial": args.serial},
    }
    return frames, header


def _read(path: Path) -> npt.NDArray[Any]:
    stack = FrameStack(path)
    frames = np.stack(list(stack))
    return frames if frames.ndim == 3 else frames[np.newaxis]


def _guided(args: argparse.Namespace, config: Config) -> tuple[QcFrames, dict[str, Any]]:
    if args.detector is None or args.generator is None:
        raise UsageError("qc needs --detector URL --generator PORT|sim (or --offline stacks)")
    if args.darks or args.flats or args.edge or args.lag:
        raise UsageError("give either --detector/--generator or --offline stacks, not both")
    if not args.yes and not sys.stdin.isatty():
        raise UsageError(
            "qc asks the operator to confirm each step on a terminal, and there is none: "
            "run it on one, or add --yes on a test rig"
        )
    operator = operator_for(args.yes, sys.stdin, sys.stderr, config.calibration.flood_retries)
    plan = QcPlan(
        levels_ugy=args.levels, dark_frames=args.dark_frames, flat_frames=args.flat_frames,
        edge_frames=args.edge_frames,
    )  # fmt: skip
    spool = args.out / ".qc-spool"  # the workflow's folder; raw exposures keep nothing there
    with ExitStack() as stack:
        generator, port = open_generator(args, config, stack)
        spool.mkdir(exist_ok=True)
        stack.callback(_remove_if_empty, spool)
        rec = acquire(args, config, plan, operator=operator, generator=generator, spool_dir=spool)
    frames = QcFrames(
        rec.darks, rec.flats, rec.edge, rec.lag, rec.pixel_pitch_mm, args.beam_quality
    )
    frames = _with_calibration(frames, config, args.store, rec.serial, rec.mode_key)
    header = {
        "source": "guided",
        "detector": {"url": args.detector, "serial": rec.serial, "model": rec.model},
        "generator": port,
        "exposures": rec.exposures,
        "kerma_source": "nominal, from the tube-output model of [calibration]",
        "kv": config.calibration.flood_kv,
        "sid_m": config.calibration.flood_sid_m,
    }
    return frames, header


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # something was kept there: leave it for whoever looks


def _with_calibration(
    frames: QcFrames, config: Config, store_dir: Path | None, serial: str, mode_key: str
) -> QcFrames:
    """Add the newest calibration set of the panel and mode: its defects, a corrected flat.

    The flats of the middle level are corrected by that set (offset, gain, defects:
    :func:`panelgate.calibration.correct`) for the map of residual non-uniformity. No set
    (or one of another shape): the frames as they are.
    """
    store: CalibrationStore = calibration_store(config.calibration, store_dir)
    try:
        calset = store.select(serial, mode_key)
    except CalibrationNotFound:
        return frames
    if calset.defects.shape != frames.darks.shape[1:]:
        return frames
    levels = sorted(frames.flats)
    middle = frames.flats[levels[len(levels) // 2]]
    corrected = np.mean([correct(np.ascontiguousarray(f), calset) for f in middle], axis=0)
    return dataclasses.replace(
        frames,
        previous_defects=np.asarray(calset.defects) != 0,
        corrected_flat=corrected,
        calibration_set=calset.set_id,
    )


def _summary(figures: dict[str, Any], written: list[Path]) -> str:
    lines = [f"qc: {figures['beam_quality']}, kerma {figures['air_kerma_ugy']} µGy"]
    lines.extend(
        f"  MTF {m['axis']}: MTF50 {m['mtf50_per_mm']:.3f} /mm, at Nyquist "
        f"{m['mtf_at_nyquist']:.3f} (edge {abs(m['edge_angle_deg']):.2f}°)"
        for m in figures.get("mtf") or []
    )
    if figures.get("dqe"):
        lines.append(f"  DQE(0): {figures['dqe']['dqe_zero']:.3f}")
    if figures.get("linearity"):
        lin = figures["linearity"]
        lines.append(
            f"  linearity: {lin['slope_counts_per_ugy']:.1f} counts/µGy, r² {lin['r_squared']:.5f}"
        )
    if figures.get("lag"):
        lag = figures["lag"]
        lines.append(f"  lag: first frame {lag['first_frame']:.4f}, residual {lag['residual']:.4f}")
    dark = figures["dark"]
    lines.append(
        f"  dark: noise {dark['noise_counts']:.2f} counts, non-uniformity "
        f"{dark['noise_nonuniformity']:.3f}; defects {figures['defects']['count']}"
    )
    lines.append(f"  report: {', '.join(str(p) for p in written)}")
    return "\n".join(lines)

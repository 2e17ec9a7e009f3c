"""``panelgate grab --detector URL --frames N``: raw frames through the Detector contract.

For test rigs: sets the readout mode and, on detectors with a GenICam feature map
(:class:`~panelgate.drivers.FeatureAccess`, e.g. ``gige://``), any other device feature
(``--set``), acquires N raw frames, prints per-frame statistics and the detector's transport
counters, and saves the stack with ``--out`` (``frames.npy`` or ``frames.tif`` plus
``frames.json`` with the frame metadata; both written atomically, together or not at all).
``--json`` prints the same summary as one JSON document.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from panelgate.acquisition.detectors import open_detector
from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.jsonout import add_json_option, finite, print_json
from panelgate.acquisition.stacks import write_stack
from panelgate.drivers import Detector, FeatureAccess, FrameMeta, ReadoutMode
from panelgate.drivers.fsio import AtomicFiles, make_dir

from .args import non_negative_float, positive_seconds

__all__ = ["FEATURES", "register"]

FEATURES: dict[str, tuple[str, type]] = {
    "Width": ("width", int),
    "Height": ("height", int),
    "Binning": ("binning", int),
    "GainMode": ("gain_mode", str),
    "ExposureTime": ("exposure_s", float),  # SFNC: microseconds
}
"""``--set`` names (GenICam SFNC spelling) and the ReadoutMode field each sets."""

JSON_KEYS = """
  serial, mode_key, mode {width, height, binning, gain_mode, exposure_s}, dose_ugy
  features {name: value read back}   the --set features outside the readout mode
  frames[]  each: frame_id, mean_counts, std_counts, min_counts, max_counts, temp_c
  counters {name: count}             the transport's counters
  saved     null, or {stack, metadata, frames}: the files written by --out
"""


def _feature(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected FEATURE=VALUE, got {text!r}")
    return name, value


def register(sub: Any) -> None:
    """Add the ``grab`` sub-command."""
    grab = sub.add_parser(
        "grab",
        help="acquire raw frames and print their statistics",
        description="Acquire N raw frames through the Detector contract, print per-frame "
        "mean, std, min and max and the transport counters; save them with --out. "
        f"--set takes {', '.join(FEATURES)} (ExposureTime in µs), which make the readout "
        "mode, and on a detector with a GenICam feature map (gige://) any other feature by "
        "its name (e.g. --set GevSCPD=2000 --set PixelFormat=Mono14).",
    )
    grab.add_argument("--detector", required=True, metavar="URL")
    grab.add_argument("--frames", type=int, default=1, metavar="N", help="frames (default 1)")
    grab.add_argument("--set", type=_feature, action="append", default=[], metavar="F=V")
    grab.add_argument(
        "--out", type=Path, metavar="DIR", help="save the stack here (created if missing)"
    )
    grab.add_argument("--format", choices=["npy", "tiff"], default="npy", help="stack format")
    grab.add_argument(
        "--dose",
        type=non_negative_float,
        default=0.0,
        metavar="UGY",
        help="simulated air kerma per frame",
    )
    grab.add_argument("--timeout-s", type=positive_seconds, default=10.0, metavar="S")
    add_json_option(grab, JSON_KEYS)
    grab.set_defaults(handler=_grab)


def _device_features(detector: Detector, settings: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the ``--set`` pairs outside the readout mode (the detector must have features)."""
    extra = [(name, text) for name, text in settings if name not in FEATURES]
    if extra and not isinstance(detector, FeatureAccess):
        raise UsageError(
            f"unknown feature {extra[0][0]!r}; this detector takes --set "
            f"{', '.join(FEATURES)} only (it has no GenICam feature map)"
        )
    return extra


def _mode(detector: Detector, settings: list[tuple[str, str]]) -> ReadoutMode:
    info = detector.info
    fields: dict[str, Any] = {}
    if info.sensor_width_px and info.sensor_height_px:
        fields = {"width": info.sensor_width_px, "height": info.sensor_height_px}
    for name, text in settings:
        if name not in FEATURES:
            continue
        field, kind = FEATURES[name]
        try:
            value = kind(text)
        except ValueError:
            raise UsageError(f"--set {name}={text!r}: expected {kind.__name__}") from None
        fields[field] = value * 1e-6 if name == "ExposureTime" else value
    if "width" not in fields or "height" not in fields:
        raise UsageError("give --set Width=W --set Height=H for this detector")
    try:
        return ReadoutMode(**fields)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _stats(pixels: npt.NDArray[np.uint16], frame_id: int, temp_c: float) -> dict[str, Any]:
    return {
        "frame_id": frame_id,
        "mean_counts": float(pixels.mean()),
        "std_counts": float(pixels.std()),
        "min_counts": int(pixels.min()),
        "max_counts": int(pixels.max()),
        "temp_c": finite(temp_c),
    }


def _stats_line(i: int, s: dict[str, Any]) -> str:
    return (
        f"frame {i + 1:>4} id {s['frame_id']:>6}: mean {s['mean_counts']:9.1f}  "
        f"std {s['std_counts']:8.1f}  min {s['min_counts']:5d}  max {s['max_counts']:5d}  "
        + ("   — °C" if s["temp_c"] is None else f"{s['temp_c']:.1f} °C")
    )


def _save(
    out: Path, fmt: str, frames: list[npt.NDArray[np.uint16]], meta: dict[str, Any]
) -> dict[str, Any]:
    """Write the stack and its metadata into ``out``, both whole or neither."""
    out = make_dir(out)
    stack = out / f"frames.{'npy' if fmt == 'npy' else 'tif'}"
    metadata = out / "frames.json"
    with AtomicFiles() as files:
        with files.path(stack, 0o644) as tmp:
            write_stack(tmp, frames)
        with files.open(metadata, 0o644) as fh:
            fh.write((json.dumps(meta, indent=2) + "\n").encode())
    return {"stack": str(stack), "metadata": str(metadata), "frames": len(frames)}


def _metadata(
    metas: list[FrameMeta], mode: ReadoutMode, dose_ugy: float, counters: dict[str, int]
) -> dict[str, Any]:
    """Return what ``frames.json`` holds beside the stack."""
    return {
        "serial": metas[0].serial,
        "mode": dataclasses.asdict(mode),
        "mode_key": mode.key,
        "dose_ugy": dose_ugy,
        "frames": [
            {"frame_id": m.frame_id, "temp_c": m.temp_c, "t_utc": m.t_utc.isoformat()}
            for m in metas
        ],
        "counters": counters,
    }


def _grab(args: argparse.Namespace) -> int:
    if not 1 <= args.frames <= 10000:
        raise UsageError(f"--frames must be 1-10000, got {args.frames}")
    detector = open_detector(args.detector)
    beam = getattr(detector, "irradiate", None)
    if args.dose > 0 and beam is None:
        raise UsageError("--dose needs a simulated detector (sim://)")

    def say(text: str) -> None:
        if not args.json:  # stdout holds the one JSON document then
            print(text)

    frames, metas, stats, features = [], [], [], {}
    with detector:
        extra = _device_features(detector, args.set)
        mode = _mode(detector, args.set)
        detector.configure(mode)
        say(f"grab: {detector.info.serial} mode {mode.key}, {args.frames} frame(s)")
        if isinstance(detector, FeatureAccess):
            for name, text in extra:  # after the mode: Width etc. may bound them
                detector.set_feature(name, text)
                features[name] = detector.get_feature(name)
                say(f"set {name} = {features[name]}")
        for i in range(args.frames):
            detector.arm()
            if args.dose > 0 and beam is not None:
                beam(args.dose)
            detector.trigger()
            frame = detector.read_frame(args.timeout_s)
            stats.append(_stats(frame.pixels, frame.meta.frame_id, frame.meta.temp_c))
            say(_stats_line(i, stats[-1]))
            frames.append(frame.pixels)
            metas.append(frame.meta)
        serial = detector.info.serial
        counters = detector.counters()
    say("counters: " + (", ".join(f"{k} {v}" for k, v in counters.items()) or "none"))
    saved = None
    if args.out is not None:
        saved = _save(args.out, args.format, frames, _metadata(metas, mode, args.dose, counters))
        say(f"saved {len(frames)} frame(s) to {saved['stack']}")
    if args.json:
        print_json(
            {
                "serial": serial,
                "mode_key": mode.key,
                "mode": dataclasses.asdict(mode),
                "dose_ugy": args.dose,
                "features": features,
                "frames": stats,
                "counters": counters,
                "saved": saved,
            }
        )
    return 0

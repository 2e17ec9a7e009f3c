"""``panelgate grab --detector URL --frames N``: raw frames through the Detector contract.

For test rigs: sets the readout mode and, on detectors with a GenICam feature map
(:class:`~panelgate.drivers.FeatureAccess`, e.g. ``gige://``), any other device feature
(``--set``), acquires N raw frames, prints per-frame statistics and the detector's transport
counters, and saves the stack with ``--out`` (``frames.npy`` or ``frames.tif`` plus
``frames.json`` with the frame metadata).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from panelgate.acquisition.detectors import open_detector
from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.stacks import write_stack
from panelgate.drivers import Detector, FeatureAccess, ReadoutMode

__all__ = ["FEATURES", "register"]

FEATURES: dict[str, tuple[str, type]] = {
    "Width": ("width", int),
    "Height": ("height", int),
    "Binning": ("binning", int),
    "GainMode": ("gain_mode", str),
    "ExposureTime": ("exposure_s", float),  # SFNC: microseconds
}
"""``--set`` names (GenICam SFNC spelling) and the ReadoutMode field each sets."""


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
    grab.add_argument("--out", type=Path, metavar="DIR", help="save the stack here")
    grab.add_argument("--format", choices=["npy", "tiff"], default="npy", help="stack format")
    grab.add_argument(
        "--dose", type=float, default=0.0, metavar="UGY", help="simulated air kerma per frame"
    )
    grab.add_argument("--timeout-s", type=float, default=10.0, metavar="S")
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


def _grab(args: argparse.Namespace) -> int:
    if not 1 <= args.frames <= 10000:
        raise UsageError(f"--frames must be 1-10000, got {args.frames}")
    detector = open_detector(args.detector)
    beam = getattr(detector, "irradiate", None)
    if args.dose > 0 and beam is None:
        raise UsageError("--dose needs a simulated detector (sim://)")
    frames, metas = [], []
    with detector:
        extra = _device_features(detector, args.set)
        mode = _mode(detector, args.set)
        detector.configure(mode)
        print(f"grab: {detector.info.serial} mode {mode.key}, {args.frames} frame(s)")
        if isinstance(detector, FeatureAccess):
            for name, text in extra:  # after the mode: Width etc. may bound them
                detector.set_feature(name, text)
                print(f"set {name} = {detector.get_feature(name)}")
        for i in range(args.frames):
            detector.arm()
            if args.dose > 0 and beam is not None:
                beam(args.dose)
            detector.trigger()
            frame = detector.read_frame(args.timeout_s)
            p = frame.pixels
            print(
                f"frame {i + 1:>4} id {frame.meta.frame_id:>6}: mean {p.mean():9.1f}  "
                f"std {p.std():8.1f}  min {int(p.min()):5d}  max {int(p.max()):5d}  "
                f"{frame.meta.temp_c:.1f} °C"
            )
            frames.append(p)
            metas.append(frame.meta)
        counters = detector.counters()
    print("counters: " + (", ".join(f"{k} {v}" for k, v in counters.items()) or "none"))
    if args.out is not None:
        suffix = "npy" if args.format == "npy" else "tif"
        path = write_stack(args.out / f"frames.{suffix}", frames)
        meta = {
            "serial": metas[0].serial,
            "mode": dataclasses.asdict(mode),
            "mode_key": mode.key,
            "dose_ugy": args.dose,
            "frames": [
                {"frame_id": m.frame_id, "temp_c": m.temp_c, "t_utc": m.t_utc.isoformat()}
                for m in metas
            ],
            "counters": counters,
        }
        (args.out / "frames.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(f"saved {len(frames)} frame(s) to {path}")
    return 0

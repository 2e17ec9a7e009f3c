"""``panelgate grab --detector URL --frames N``: raw frames through the Detector contract.

For test rigs: sets the readout mode and, on detectors with a GenICam feature map
(:class:`~panelgate.drivers.FeatureAccess`, e.g. ``gige://``), any other device feature
(``--set``), acquires N raw frames through the detector's continuous
:meth:`~panelgate.drivers.Detector.stream` (bounded queue, blocking policy: nothing is
dropped; statistics are computed while the next frame is acquired), prints per-frame
statistics, the stream's and the detector's transport counters, and saves the stack with
``--out`` (``frames.npy`` or ``frames.tif`` plus ``frames.json`` with the frame metadata;
both written atomically, together or not at all). ``--json`` prints the same summary as
one JSON document.

A lost link mid-grab (:class:`~panelgate.drivers.TransportError`: a USB panel unplugged,
a GigE panel silent) is not the end: grab keeps the frames received, reconnects with
backoff (:mod:`panelgate.acquisition.relink`: ``--reconnects`` attempts in all, default
5, waiting 0.25, 0.5, 1, 2, 4 s), checks that the same detector (serial) answered,
re-applies the mode and ``--set`` features and acquires the frames still missing. When
the link cannot be had back, or the acquisition fails otherwise after some frames, the
frames received are saved with ``--out`` all the same and the one error line says how
many (exit 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from panelgate.acquisition.detectors import open_detector
from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.jsonout import add_json_option, finite, print_json
from panelgate.acquisition.relink import ReconnectPolicy, reconnect
from panelgate.acquisition.stacks import write_stack
from panelgate.drivers import (
    Detector,
    DetectorTimeout,
    DriverError,
    FeatureAccess,
    Frame,
    FrameMeta,
    ReadCancelled,
    ReadoutMode,
    StreamCounters,
    TransportError,
)
from panelgate.drivers.fsio import AtomicFiles, make_dir, storage_error
from panelgate.simulators import Irradiable

from .args import non_negative_float, non_negative_int, positive_seconds

__all__ = ["FEATURES", "register"]

_log = logging.getLogger(__name__)

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
  stream    {depth, dropped, delivered, acquired, last_latency_s}: the last stream's counters
  reconnects  how many times the link was lost and got back
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
    grab.add_argument(
        "--reconnects",
        type=non_negative_int,
        default=ReconnectPolicy().attempts,
        metavar="N",
        help="connection attempts in all after a lost link, waiting 0.25 s, then twice as "
        "long each time up to 4 s (default 5; 0: stop at the first loss)",
    )
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
    stack = _stack_path(out, fmt)
    metadata = out / "frames.json"
    with AtomicFiles() as files:
        with files.path(stack, 0o644) as tmp:
            write_stack(tmp, frames)
        with files.open(metadata, 0o644) as fh:
            fh.write((json.dumps(meta, indent=2) + "\n").encode())
    return {"stack": str(stack), "metadata": str(metadata), "frames": len(frames)}


def _metadata(
    metas: list[FrameMeta], args: argparse.Namespace, counters: dict[str, int]
) -> dict[str, Any]:
    """Return what ``frames.json`` holds beside the stack (the mode is the frames' own)."""
    mode = metas[0].mode
    return {
        "serial": metas[0].serial,
        "mode": dataclasses.asdict(mode),
        "mode_key": mode.key,
        "dose_ugy": args.dose,
        "requested_frames": args.frames,
        "frames": [
            {"frame_id": m.frame_id, "temp_c": m.temp_c, "t_utc": m.t_utc.isoformat()}
            for m in metas
        ],
        "counters": counters,
    }


@dataclass
class _Take:
    """What a grab has received so far (kept across reconnections)."""

    frames: list[npt.NDArray[np.uint16]] = field(default_factory=list)
    metas: list[FrameMeta] = field(default_factory=list)
    stats: list[dict[str, Any]] = field(default_factory=list)
    stream: StreamCounters | None = None
    reconnects: int = 0

    def add(self, frame: Frame) -> dict[str, Any]:
        self.frames.append(frame.pixels)
        self.metas.append(frame.meta)
        self.stats.append(_stats(frame.pixels, frame.meta.frame_id, frame.meta.temp_c))
        return self.stats[-1]


def _setup(detector: Detector, mode: ReadoutMode, extra: list[tuple[str, str]]) -> dict[str, Any]:
    """Configure the mode, then the ``--set`` features outside it; return those read back."""
    detector.configure(mode)
    features: dict[str, Any] = {}
    if isinstance(detector, FeatureAccess):
        for name, text in extra:  # after the mode: Width etc. may bound them
            detector.set_feature(name, text)
            features[name] = detector.get_feature(name)
    return features


def _acquire(
    detector: Detector,
    args: argparse.Namespace,
    take: _Take,
    setup: Callable[[Detector], object],
    say: Callable[[str], None],
) -> None:
    """Stream frames into ``take`` until it holds ``args.frames``; reconnect after a lost link."""
    on_armed = None
    if args.dose > 0 and isinstance(detector, Irradiable):
        panel = detector  # narrowed for the closure
        on_armed = lambda: panel.irradiate(args.dose)  # noqa: E731 - one call, per frame
    serial = detector.info.serial
    policy = ReconnectPolicy(attempts=args.reconnects)
    attempts = 0
    while len(take.frames) < args.frames:
        try:
            with detector.stream(
                args.frames - len(take.frames), timeout_s=args.timeout_s, on_armed=on_armed
            ) as stream:
                try:
                    for frame in stream:
                        say(_stats_line(len(take.frames), take.add(frame)))
                finally:
                    take.stream = stream.counters()
        except TransportError as exc:
            say(f"link lost after {len(take.frames)} frame(s): {exc}; reconnecting")
            try:
                attempts += reconnect(detector, serial, setup, policy, first_attempt=attempts)
            except TransportError as failed:
                raise TransportError(f"link lost ({exc}); {failed}") from exc
            take.reconnects += 1
            say(f"reconnected to {serial} ({take.reconnects} time(s) so far)")


def _incomplete(exc: DriverError, take: _Take, args: argparse.Namespace) -> DriverError:
    """Return the error to report when a grab ends early: how many frames were kept, where."""
    got = f"{len(take.frames)} of {args.frames} frame(s)"
    if not take.frames:
        note = "no frame received, nothing saved"
    elif args.out is None:
        note = f"{got} received, not saved (no --out)"
    else:
        counters = {"reconnects": take.reconnects}
        saved = _save(args.out, args.format, take.frames, _metadata(take.metas, args, counters))
        note = f"{got} saved to {saved['stack']}"
    for kind in (TransportError, DetectorTimeout, ReadCancelled):
        if isinstance(exc, kind):
            return kind(f"{exc}; {note}")
    return DriverError(f"{exc}; {note}")


def _stack_path(out: Path, fmt: str) -> Path:
    return out / f"frames.{'npy' if fmt == 'npy' else 'tif'}"


def _writable_out(out: Path, fmt: str) -> None:
    """Refuse an output folder that cannot be made or written (StorageError, exit 1).

    Checked before the panel is used, by creating (and removing) a file there, so that no
    frames are taken that could not be saved.
    """
    folder = make_dir(out)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise storage_error(exc, _stack_path(folder, fmt)) from exc


def _grab(args: argparse.Namespace) -> int:
    if not 1 <= args.frames <= 10000:
        raise UsageError(f"--frames must be 1-10000, got {args.frames}")
    detector = open_detector(args.detector)
    if args.dose > 0 and not isinstance(detector, Irradiable):
        raise UsageError("--dose needs a simulated detector (sim://, usb://sim)")
    if args.out is not None:
        _writable_out(args.out, args.format)

    def say(text: str) -> None:
        if not args.json:  # stdout holds the one JSON document then
            print(text)

    take = _Take()
    with detector:
        extra = _device_features(detector, args.set)
        mode = _mode(detector, args.set)
        features = _setup(detector, mode, extra)
        say(f"grab: {detector.info.serial} mode {mode.key}, {args.frames} frame(s)")
        for name, value in features.items():
            say(f"set {name} = {value}")
        try:
            _acquire(detector, args, take, lambda d: _setup(d, mode, extra), say)
        except DriverError as exc:
            raise _incomplete(exc, take, args) from exc
        serial = detector.info.serial
        counters = detector.counters()
    say("counters: " + (", ".join(f"{k} {v}" for k, v in counters.items()) or "none"))
    stream = {} if take.stream is None else dataclasses.asdict(take.stream)
    say("stream: " + ", ".join(f"{k} {v:.4g}" for k, v in stream.items()))
    if take.reconnects:
        say(f"reconnects: {take.reconnects}")
    saved = None
    if args.out is not None:
        counters = {**counters, "reconnects": take.reconnects}
        saved = _save(args.out, args.format, take.frames, _metadata(take.metas, args, counters))
        say(f"saved {len(take.frames)} frame(s) to {saved['stack']}")
    if args.json:
        print_json(
            {
                "serial": serial,
                "mode_key": mode.key,
                "mode": dataclasses.asdict(mode),
                "dose_ugy": args.dose,
                "features": features,
                "frames": take.stats,
                "counters": counters,
                "stream": {k: finite(v) for k, v in stream.items()},
                "reconnects": take.reconnects,
                "saved": saved,
            }
        )
    return 0

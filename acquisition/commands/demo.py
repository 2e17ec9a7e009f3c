"""``panelgate demo``: simulated exposure to PACS, end to end, in one process."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from panelgate.acquisition.config import Config, load_config
from panelgate.acquisition.demo import run_demo
from panelgate.gateway.pacs import Destination
from panelgate.simulators import SimulatedDetector

from .args import ae_title, frame_count, host_port

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``demo`` sub-command to the parser's sub-parsers."""
    demo = sub.add_parser(
        "demo",
        help="simulated exposure to PACS, end to end",
        description="Put a simulated panel and an in-process simulated generator in a "
        "simulated X-ray room, calibrate the panel, make a phantom exposure through the "
        "exposure workflow (PREP, READY, EXP, readout, correct, build, queue, preview), and "
        "store the DX image into an embedded PACS (or a real one with --pacs).",
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("panelgate-demo"),
        metavar="DIR",
        help="output directory (default: ./panelgate-demo)",
    )
    demo.add_argument(
        "--pacs",
        type=host_port,
        metavar="HOST:PORT",
        help="store into this PACS instead of the embedded one",
    )
    demo.add_argument(
        "--called-ae",
        type=ae_title,
        default="ANY-SCP",
        metavar="AE",
        help="the PACS's AE title (with --pacs; default ANY-SCP)",
    )
    demo.add_argument(
        "--calling-ae", type=ae_title, metavar="AE", help="our AE title (default PANELGATE)"
    )
    demo.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    demo.add_argument(
        "--detector",
        default="sim://",
        metavar="URL",
        help="simulated panel URL, e.g. sim://?width=1024&height=1024&seed=3 (trigger=aed: "
        "the exposure runs in the panel's trigger mode; the demo's own room replaces room=)",
    )
    demo.add_argument("--dark-frames", type=frame_count, metavar="N", help="dark frames to average")
    demo.add_argument(
        "--flood-frames", type=frame_count, metavar="N", help="flood frames to average"
    )

    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else Config()
    cal = config.calibration
    config = replace(
        config,
        calibration=replace(
            cal,
            dark_frames=args.dark_frames or cal.dark_frames,
            flood_frames=args.flood_frames or cal.flood_frames,
        ),
    )
    if args.calling_ae:
        config = replace(config, dicom=replace(config.dicom, calling_ae=args.calling_ae))
    detector = SimulatedDetector.from_url(args.detector)
    destination = None
    if args.pacs:
        host, port = args.pacs
        destination = Destination(
            host, port, called_ae=args.called_ae, calling_ae=config.dicom.calling_ae
        )
    elif config.pacs is not None:
        p = config.pacs
        destination = Destination(
            p.host,
            p.port,
            called_ae=p.called_ae,
            calling_ae=config.dicom.calling_ae,
            connect_s=p.connect_s,
            dimse_s=p.dimse_s,
        )
    spec = detector.spec
    print(
        f"panelgate demo: simulated {spec.width}x{spec.height} panel {spec.serial} and "
        f"generator in a simulated X-ray room, {config.calibration.dark_frames} darks, "
        f"{config.calibration.flood_frames} floods, trigger {detector.trigger_source.value}",
        flush=True,
    )
    result = run_demo(args.out, config, destination, detector)
    print(result.timer.table())
    if result.delivered is not None:
        d = result.delivered
        print(f"delivered:        {d.kv:g} kV, {d.ma:g} mA, {d.ms:g} ms, {d.mas:g} mAs")
    counts = result.defect_counts
    causes = ", ".join(f"{name} {n}" for name, n in counts.items() if name != "total" and n)
    print(f"defects found:    {counts['total']} pixels ({causes or 'none'})")
    if result.exposure_index:
        print(f"exposure:         {result.exposure_index}")
    print(f"SOP Instance UID: {result.sop_instance_uid}")
    print(f"DICOM file:       {result.spool_path}")
    print(f"preview PNG:      {result.preview_path}")
    if result.delivery.delivered:
        where = f" -> {result.pacs_path}" if result.pacs_path else ""
        print(f"stored in PACS:   {result.destination}{where}")
        return 0
    print(
        f"panelgate: error: {result.destination} did not store the instance: "
        f"{result.delivery.reason}; the DICOM file stays queued at {result.spool_path}",
        file=sys.stderr,
    )
    return 1

"""The ``panelgate`` command line.

Exit status: 0 success; 1 the work failed (PACS unreachable, detector fault) with one line
on stderr saying what and where the data is; 2 a usage or configuration error, one line on
stderr; 130 interrupted. No traceback is shown for any of these (``--debug`` shows them).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from pynetdicom import _config as pynetdicom_config

from panelgate.drivers import PanelgateError
from panelgate.gateway.pacs import Destination, EmbeddedPacs, Outcome
from panelgate.simulators import SimulatedDetector

from .config import Config, load_config
from .demo import run_demo
from .errors import UsageError

__all__ = ["main"]

_log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port 1-65535, got {text!r}")
    return host, int(port)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return int(text)


def _count(text: str) -> int:
    if not text.isdigit() or not 2 <= int(text) <= 1024:
        raise argparse.ArgumentTypeError(f"expected a frame count 2-1024, got {text!r}")
    return int(text)


def _ae_title(text: str) -> str:
    if not 0 < len(text) <= 16 or not text.isascii() or "\\" in text or text != text.strip():
        raise argparse.ArgumentTypeError(
            f"an AE title is 1-16 ASCII characters without '\\', got {text!r}"
        )
    return text


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of every sub-command."""
    parser = _Parser(
        prog="panelgate",
        description="X-ray flat-panel acquisition and DICOM gateway agent.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )

    demo = sub.add_parser(
        "demo",
        help="simulated exposure to PACS, end to end",
        description="Simulate a panel, calibrate it, expose a phantom, and store the DX image "
        "into an embedded PACS (or a real one with --pacs).",
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
        type=_host_port,
        metavar="HOST:PORT",
        help="store into this PACS instead of the embedded one",
    )
    demo.add_argument(
        "--called-ae",
        type=_ae_title,
        default="ANY-SCP",
        metavar="AE",
        help="the PACS's AE title (with --pacs; default ANY-SCP)",
    )
    demo.add_argument(
        "--calling-ae", type=_ae_title, metavar="AE", help="our AE title (default PANELGATE)"
    )
    demo.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    demo.add_argument(
        "--detector",
        default="sim://",
        metavar="URL",
        help="simulated panel URL, e.g. sim://?width=1024&height=1024&seed=3",
    )
    demo.add_argument("--dark-frames", type=_count, metavar="N", help="dark frames to average")
    demo.add_argument("--flood-frames", type=_count, metavar="N", help="flood frames to average")

    pacs = sub.add_parser(
        "pacs",
        help="run the embedded Storage SCP",
        description="Receive DICOM instances (C-STORE) and file them as DIR/<SOPInstanceUID>.dcm "
        "until interrupted.",
    )
    pacs.add_argument(
        "--port", type=_port, required=True, metavar="N", help="TCP port (0: any free port)"
    )
    pacs.add_argument(
        "--dir", type=Path, required=True, metavar="DIR", help="where instances are filed"
    )
    pacs.add_argument(
        "--ae-title",
        type=_ae_title,
        default="PANELGATE-PACS",
        metavar="T",
        help="our AE title (default PANELGATE-PACS)",
    )
    pacs.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``panelgate`` command; returns the process exit status."""
    args: argparse.Namespace | None = None
    try:
        args = build_parser().parse_args(argv)
        _configure_logging(args.verbose)
        if args.command == "demo":
            return _demo(args)
        return _pacs(args)
    except KeyboardInterrupt:
        print("panelgate: interrupted", file=sys.stderr)
        return 130
    except PanelgateError as exc:
        if args is not None and args.debug:
            raise
        print(f"panelgate: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pynetdicom reports failed associations itself at ERROR; ours is the message that counts.
    logging.getLogger("pynetdicom").setLevel(logging.DEBUG if verbose >= 2 else logging.CRITICAL)
    pynetdicom_config.LOG_REQUEST_IDENTIFIERS = verbose >= 2  # no patient data in logs above DEBUG


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
        f"panelgate demo: simulated {spec.width}x{spec.height} panel {spec.serial}, "
        f"{config.calibration.dark_frames} darks, {config.calibration.flood_frames} floods",
        flush=True,
    )
    result = run_demo(args.out, config, destination, detector)
    print(result.timer.table())
    counts = result.defect_counts
    print(
        f"defects found:    {counts['total']} pixels (dead {counts['dead']}, hot {counts['hot']}, "
        f"over {counts['over']}, noisy {counts['noisy']})"
    )
    if result.exposure_index:
        print(f"exposure:         {result.exposure_index}")
    print(f"SOP Instance UID: {result.sop_instance_uid}")
    print(f"DICOM file:       {result.spool_path}")
    print(f"preview PNG:      {result.preview_path}")
    if result.store.outcome in (Outcome.SUCCESS, Outcome.WARNING):
        where = f" -> {result.pacs_path}" if result.pacs_path else ""
        print(f"stored in PACS:   {result.destination} ({result.store.status}){where}")
        return 0
    print(
        f"panelgate: error: {result.destination} did not store the instance: "
        f"{result.store.status}; "
        f"the DICOM file stays at {result.spool_path}",
        file=sys.stderr,
    )
    return 1


def _pacs(args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedPacs(args.dir, ae_title=args.ae_title, host=args.host, port=args.port) as pacs:
        print(
            f"panelgate pacs: {pacs.ae_title} listening on {args.host}:{pacs.port}, "
            f"filing into {args.dir}",
            flush=True,
        )
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    print(f"panelgate pacs: stopped after receiving {len(pacs.received)} instance(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``panelgate simulate gige``: a simulated flat panel on GigE Vision (GVCP/GVSP over UDP).

Runs until interrupted. GigE Vision clients discover devices by broadcast: run the
simulator and its clients inside a loopback-only network namespace (README). With
``--room DIR`` the panel stands in that simulated X-ray room: a simulated generator's beam
(``panelgate simulate generator --room DIR``, in any process or network namespace) reaches
the next frame it sends.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path
from typing import Any

from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.stopping import StopSignals
from panelgate.simulators import Room
from panelgate.simulators.dose import PHANTOMS
from panelgate.simulators.gige import FaultPlan, GigESimulator, SimulatorConfig, parse_fault

from .args import port

__all__ = ["register_target"]


def _ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IPv4 address, got {text!r}") from None


def _size(text: str) -> int:
    if not text.isdigit() or not 32 <= int(text) <= 8192:
        raise argparse.ArgumentTypeError(f"expected a size of 32-8192 pixels, got {text!r}")
    return int(text)


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a ratio in [0, 1), got {text!r}")
    return value


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer seed, got {text!r}")
    return int(text)


def _fault(text: str) -> str:
    try:
        parse_fault(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _link_speed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected megabits per second, got {text!r}") from None
    if not 0 <= value <= 400_000:
        raise argparse.ArgumentTypeError(f"link speed must be 0..400000 Mb/s, got {value}")
    return value


def register_target(targets: Any) -> None:
    """Add ``simulate gige`` to the ``simulate`` sub-parsers."""
    p = targets.add_parser(
        "gige",
        help="a flat panel on GigE Vision (GVCP control, GVSP stream)",
        description="Run a simulated flat panel that GigE Vision clients (aravis, panelgate "
        "gige://) drive. Run it inside a loopback-only network namespace.",
    )
    p.add_argument("--address", type=_ipv4, required=True, help="IPv4 address to bind")
    p.add_argument("--port", type=port, default=3956, help="GVCP port (default 3956)")
    p.add_argument("--width", type=_size, default=3072, help="sensor width in pixels")
    p.add_argument("--height", type=_size, default=3072, help="sensor height in pixels")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the panel model")
    p.add_argument("--serial", default="SIM-0001", help="serial number to report")
    p.add_argument(
        "--extended-ids",
        action="store_true",
        help="stream with extended GVSP ids (64-bit block ids); the host must use them too",
    )
    p.add_argument(
        "--loss-ratio", type=_ratio, default=0.0, help="drop this fraction of stream packets"
    )
    p.add_argument(
        "--link-speed-mbps", type=_link_speed, default=1000, metavar="MBPS",
        help="stream packets leave no faster than this link (default 1000, GigE; 10000 for "
        "10GigE; 0 = as fast as the host takes them, which no camera does)",
    )  # fmt: skip
    p.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="KIND[:K=V,...]",
        help="burst:every=N,packets=P | stall:after=N,seconds=S | disconnect:after=N[,seconds=S]"
        " | corrupt:ratio=R | heartbeat-loss:after=S | temperature:celsius=C,after=S"
        " | pending:ms=M (repeatable)",
    )
    p.add_argument(
        "--room", type=Path, metavar="DIR",
        help="the simulated X-ray room the panel stands in (its generator's beam reaches it)",
    )  # fmt: skip
    p.add_argument(
        "--phantom", choices=PHANTOMS, default="open",
        help="what stands in the room's beam (default open)",
    )  # fmt: skip
    p.add_argument("--field", metavar="WxH[@X,Y]", help="collimated field in mm (as field=)")
    p.add_argument("--grid", metavar="on|off|LINES", help="anti-scatter grid (as grid=)")
    p.add_argument("--marker", choices=("L", "R"), help="side marker in the field (as marker=)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.room is not None:
        try:
            Room(args.room)
        except OSError as exc:
            raise UsageError(f"--room {args.room}: {exc.strerror or exc}") from None
    plan = FaultPlan(loss_ratio=args.loss_ratio)
    for text in args.fault:
        plan = parse_fault(text, plan)
    config = SimulatorConfig(
        address=args.address,
        port=args.port,
        width=args.width,
        height=args.height,
        seed=args.seed,
        serial=args.serial,
        extended_ids=args.extended_ids,
        link_speed_mbps=args.link_speed_mbps,
        room=None if args.room is None else str(args.room),
        phantom=args.phantom,
        field=args.field,
        grid=args.grid,
        marker=args.marker,
    )
    try:
        simulator = GigESimulator(config, plan)
    except ValueError as exc:  # the phantom's placement
        raise UsageError(f"simulate gige: {exc}") from None
    except OSError as exc:
        print(
            f"panelgate simulate gige: cannot bind {args.address}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    with StopSignals() as signals, simulator:
        print(
            f"GigE simulator {config.serial} ({config.width}x{config.height}) on "
            f"{config.address}:{simulator.port}",
            flush=True,
        )
        signals.wait()
    return signals.exit_status

"""``panelgate simulate generator``: a simulated X-ray generator on a pseudo-terminal.

With ``--room DIR`` its beam reaches the simulated panels of that X-ray room
(``sim://?room=DIR``, ``usb://sim?room=DIR``, ``panelgate simulate gige --room DIR``),
in this process or any other (:mod:`panelgate.simulators.room`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.stopping import StopSignals
from panelgate.simulators import Room
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator

from .args import non_negative_int, non_negative_seconds

__all__ = ["register_target"]


def register_target(targets: Any) -> None:
    """Add the ``generator`` target to ``panelgate simulate``."""
    gen = targets.add_parser(
        "generator",
        help="X-ray generator on a pseudo-terminal (line protocol of panelgate.drivers.generator)",
        description="Serve a simulated X-ray generator on a pseudo-terminal; prints the device "
        "path to pass as --generator, and runs until interrupted.",
    )
    gen.add_argument(
        "--prep-s",
        type=non_negative_seconds,
        default=0.3,
        metavar="S",
        help="prep time in seconds (default 0.3)",
    )
    gen.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the delivered-value deviations"
    )
    gen.add_argument(
        "--room", type=Path, metavar="DIR",
        help="the simulated X-ray room whose panels the beam reaches (made when missing)",
    )  # fmt: skip
    gen.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    spec = GeneratorSpec(prep_s=args.prep_s)
    try:
        room = Room(args.room) if args.room is not None else None
    except OSError as exc:
        raise UsageError(f"--room {args.room}: {exc.strerror or exc}") from None
    with StopSignals() as signals, SimulatedGenerator(spec, seed=args.seed, room=room) as sim:
        print(sim.device_path, flush=True)
        signals.wait()
    print(
        f"panelgate simulate generator: stopped after {sim.model.exposures} exposure(s)",
        flush=True,
    )
    return signals.exit_status

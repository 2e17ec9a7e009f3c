"""``panelgate simulate generator``: a simulated X-ray generator on a pseudo-terminal."""

from __future__ import annotations

import argparse
from typing import Any

from panelgate.acquisition.stopping import StopSignals
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
    gen.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    spec = GeneratorSpec(prep_s=args.prep_s)
    with StopSignals() as signals, SimulatedGenerator(spec, seed=args.seed) as sim:
        print(sim.device_path, flush=True)
        signals.wait()
    print(
        f"panelgate simulate generator: stopped after {sim.model.exposures} exposure(s)",
        flush=True,
    )
    return signals.exit_status

"""Time the phantom renderer at a panel size: body once, then a scene per new kV.

A simulated panel builds its phantom's body (path lengths, independent of technique) on
its first exposure and renders a scene (Beer-Lambert, blades, marker, scatter, grid) for
each new delivered kV (the last four are kept). Prints medians with ranges.

    .venv/bin/python benchmarks/bench_phantoms.py [--size 3072] [--phantom chest] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from panelgate.simulators.phantoms import PlacedPhantom, Placement


def main(argv: list[str] | None = None) -> int:
    """Run and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3072)
    parser.add_argument("--phantom", default="chest")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    placement = Placement.from_keys(args.phantom, None, "on", "R")
    body_s, scene_s = [], []
    for run in range(args.runs):
        placed = PlacedPhantom(placement, args.size, args.size, 0.139)
        t0 = time.perf_counter()
        placed.scene(70.0 + run)  # body and first scene
        t1 = time.perf_counter()
        placed.scene(100.0 + run)  # a new kV: scene only
        t2 = time.perf_counter()
        body_s.append((t1 - t0) - (t2 - t1))
        scene_s.append(t2 - t1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.phantom} at {args.size}², {args.runs} runs, load average {load:.1f}:")
    for name, values in (
        ("body (first exposure, less a scene)", body_s),
        ("scene per new kV", scene_s),
    ):
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"  {name}: median {statistics.median(values):.2f} s ({spread})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

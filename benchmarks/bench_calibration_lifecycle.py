"""What an exposure spends on its calibration before the beam (issue 12).

Run as::

    python benchmarks/bench_calibration_lifecycle.py [--runs 5] [--size 3072]

What is measured
----------------
On a simulated panel (``sim://``, ``size`` × ``size``, 100 ms integration), ``--runs``
times each, with ``time.perf_counter``:

* **quick calibration**: 4 darks and 4 floods and the maps built from them, what
  ``panelgate expose`` did before every exposure until issue 12 (``--quick-calibration``);
* **stored set chosen**: :func:`~panelgate.acquisition.calibration_lifecycle.select_calibration`
  on a store holding one multi-point set (3 flood levels) of the panel: manifests read and
  judged, the set's files read and checked against their sha256, the maps built;
* **fresh dark**: ``CalibrationHolder.refresh_dark`` with 8 darks (the default
  ``[calibration] refresh_dark_frames``), the derived set stored (its gain and defect
  files hard-linked to the parent's): what a stale dark costs.

The stored set is measured once (4 darks, 2 floods per level), not timed. Progress goes to
stderr; the report to stdout.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from panelgate.acquisition.calibration_lifecycle import (
    CalibrationHolder,
    select_calibration,
    validity_rules,
)
from panelgate.acquisition.calrun import CalibrationPlan, run_calibration
from panelgate.acquisition.config import Config
from panelgate.acquisition.exposure import quick_calibration
from panelgate.acquisition.pipeline import Pipeline
from panelgate.calibration import CalibrationStore, warm_up
from panelgate.simulators import PanelSpec, SimulatedDetector


def _time(what: str, action: Callable[[], object], runs: int) -> list[float]:
    seconds = []
    for i in range(runs):
        start = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - start)
        print(f"{what} {i + 1}/{runs}: {seconds[-1]:.2f} s", file=sys.stderr)
    return seconds


def measure(size: int, runs: int, out: Path) -> dict[str, list[float]]:
    """Time the three ways to the calibration of one exposure; seconds by row name."""
    det = SimulatedDetector(PanelSpec(width=size, height=size), seed=1)
    config = Config()
    rules = validity_rules(config.calibration)
    frames = config.calibration.refresh_dark_frames
    store = CalibrationStore(out / "store")
    rows: dict[str, list[float]] = {}
    with det:
        pipeline = Pipeline(det, config, beam=det.irradiate)
        mode = pipeline.configure(size, size)
        plan = CalibrationPlan(dark_frames=4, flood_frames=2)
        stored = run_calibration(
            pipeline.expose, plan, serial=det.info.serial, mode_key=mode.key,
            full_scale=2**det.info.bits_stored - 1,
        )  # fmt: skip
        store.save(stored)
        rows["quick calibration (4 darks, 4 floods)"] = _time(
            "quick", lambda: quick_calibration(pipeline, 4), runs
        )

        def choose() -> object:
            return select_calibration(
                store, serial=det.info.serial, mode=mode, temp_c=det.status().temp_c,
                rules=rules, fix="",
            )  # fmt: skip

        rows["stored set chosen (read, sha256, maps)"] = _time("stored", choose, runs)
        holder = CalibrationHolder(stored, dark_frames=frames, rules=rules, store=store)
        rows[f"fresh dark ({frames} darks, derived set stored)"] = _time(
            "fresh dark", lambda: holder.refresh_dark(pipeline), runs
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=3072)
    args = parser.parse_args(argv)
    warm_up()
    print(f"command: bench_calibration_lifecycle.py --size {args.size} --runs {args.runs}")
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {platform.node()}")
    print()
    print(f"| before the beam, sim:// {args.size}² | median | min | max | runs |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, seconds in measure(args.size, args.runs, Path(tmp)).items():
            med, lo, hi = (1000 * f(seconds) for f in (statistics.median, min, max))
            print(f"| {name} | {med:.0f} ms | {lo:.0f} | {hi:.0f} | {len(seconds)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

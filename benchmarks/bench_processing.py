"""Benchmark: the whole presentation pipeline at 3072 × 3072 (issue 14 acceptance).

A corrected linear chest exposure (the analytic chest of :mod:`panelgate.simulators.phantom`
behind collimation blades, 10 µGy open field, Poisson noise at the simulated panel's 300
quanta per µGy, 2000 counts per µGy, pedestal 100) is processed with the chest preset by
the numba kernels and by the numpy oracles in the same run; each is timed 10 times (the
kernels after one warm-up call that compiles or loads them) and the medians are printed
with their ratio. Goal: numba median <= 300 ms on the 2-core machine.

The median time of each stage of the numba pipeline is printed too (the stages run one
after the other as :func:`panelgate.processing.process` runs them).

Run: ``.venv/bin/python benchmarks/bench_processing.py [--size 3072] [--runs 10]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from panelgate.processing import PRESETS, detect_field, log_kerma, process
from panelgate.processing.exposure_index import estimate_exposure
from panelgate.processing.multiscale import equalise
from panelgate.processing.pipeline import _fill_outside, _relevant, estimate_noise
from panelgate.processing.tonescale import tone_map, tone_window
from panelgate.simulators.phantom import chest


def linear_chest(size: int, seed: int = 0) -> np.ndarray:
    """Return a corrected-looking uint16 chest exposure with collimation."""
    rng = np.random.default_rng(seed)
    t = chest(size, size)
    shaded = np.zeros_like(t)
    a, b = size // 12, size - size // 14
    shaded[a:b, a:b] = t[a:b, a:b]
    quanta = rng.poisson(300.0 * 10.0 * shaded)
    counts = 100.0 + quanta * (2000.0 / 300.0)
    return np.clip(counts, 0, 65535).astype(np.uint16)


def timed(linear: np.ndarray, engine: str, runs: int) -> list[float]:
    """Return the wall times of ``runs`` calls of the pipeline, seconds."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        process(linear, 100.0, 2000.0, PRESETS["chest"], engine=engine)  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
    return times


def stage_times(linear: np.ndarray, runs: int) -> dict[str, float]:
    """Return the median seconds of each stage of the numba pipeline over ``runs`` runs."""
    preset = PRESETS["chest"]
    samples: dict[str, list[float]] = {}

    def clock(name: str, t0: float) -> float:
        now = time.perf_counter()
        samples.setdefault(name, []).append(now - t0)
        return now

    for _ in range(runs):
        t = time.perf_counter()
        log = log_kerma(linear, 100.0, 2000.0)
        t = clock("log transform", t)
        field = detect_field(log)
        relevant = _relevant(log, field)
        t = clock("field and relevant region", t)
        exposure = estimate_exposure(linear, relevant, 100.0, 2000.0)
        t = clock("exposure index", t)
        noise = estimate_noise(log, field)
        _fill_outside(log, field, float(np.log10(exposure.air_kerma_ugy)))
        np.minimum(log, np.float32(field.direct_log_kerma + 0.15), out=log)
        t = clock("noise, fill, clip", t)
        processed = equalise(log, preset, noise)
        t = clock("multi-scale", t)
        window = tone_window(processed, relevant, preset.low_pct, preset.high_pct, 3.5)
        tone_map(processed, window, field, 12)
        clock("tone scale", t)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    """Time both engines and print the medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3072)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    linear = linear_chest(args.size)
    process(linear, 100.0, 2000.0, PRESETS["chest"])  # compile or load the kernels
    fast = statistics.median(timed(linear, "numba", args.runs))
    oracle = statistics.median(timed(linear, "numpy", args.runs))
    print(f"presentation pipeline {args.size}x{args.size}, median of {args.runs}")
    print(f"  numba kernels:  {fast * 1000:8.1f} ms (goal <= 300 ms)")
    print(f"  numpy oracles:  {oracle * 1000:8.1f} ms")
    print(f"  ratio oracle/kernels: {oracle / fast:.1f}")
    print("  numba stages (medians):")
    for name, seconds in stage_times(linear, args.runs).items():
        print(f"    {name:28s} {seconds * 1000:8.1f} ms")


if __name__ == "__main__":
    main()

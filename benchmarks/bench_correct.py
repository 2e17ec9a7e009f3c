"""Benchmark the correction kernels and the calibration build at full panel size.

Run as::

    python benchmarks/bench_correct.py [--size 3072] [--runs 20]

What is measured (one process, one run, same data for every engine):

* **fused kernel**: ``calibration.correct`` on a simulated ``size``² uint16 frame into a
  preallocated buffer, as the pipeline runs it: single-point gain with directional defect
  replacement (``correct_pwl_kernel`` with one segment); also the multi-point gain
  (3 segments) and the original mean-rule kernel (``correct_kernel``).
* **bandwidth reference**: a numba kernel, parallel like the fused one, that only reads
  raw, dark and gain and writes the output (``(raw − dark) · gain``, no rounding, clipping or
  defects): the memory-bandwidth floor of a single-point correction.
* **bandwidth reference, 3-point maps**: the same for the multi-point gain: it reads raw,
  dark, the two break planes and the three slope planes (the bytes the 3-point kernel
  reads) and writes their sum: the floor the 3-point kernel is compared with.
* **plain numpy**: the same single-point correction vectorised with preallocated float32
  buffers (subtract, multiply, add, round, clip, cast) and the defects replaced by a
  vectorised gather of the mean of their good 3 × 3 neighbours (not the Python-loop oracle).
* **calibration build**: 32 darks streamed into :class:`DarkAccumulator`, 3 × 16 floods into
  :class:`FrameAverager`, then :func:`build_calibration` (multi-point gain, defect
  classification with lag dark); the simulator's time to make the frames is not counted.

Each figure is the median (min–max) of ``--runs`` timings (``time.perf_counter``) after one
warm-up call; the engines alternate within each run. Goals (issue 3): fused kernel ≤ 1.3 ×
the bandwidth reference, ≥ 5 × faster than numpy, ≥ 60 frames/s on 2 cores; issue 15: the
3-point kernel ≤ 1.3 × its own bandwidth reference.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import numba
import numpy as np
import numpy.typing as npt

from panelgate.calibration import (
    CalibrationSet,
    DarkAccumulator,
    FloodLevel,
    FrameAverager,
    build_calibration,
    correct,
    warm_up,
)
from panelgate.simulators import PanelModel, PanelSpec

U16 = npt.NDArray[np.uint16]
F32 = npt.NDArray[np.float32]


@numba.njit(nogil=True, parallel=True, cache=True)
def bandwidth_reference(raw: U16, dark: F32, gain: F32, out: U16) -> None:  # pragma: no cover
    """Read raw, dark and gain, write out: nothing else."""
    h, w = raw.shape
    for y in numba.prange(h):
        for x in range(w):
            out[y, x] = np.uint16(max(0.0, (float(raw[y, x]) - float(dark[y, x])) * gain[y, x]))


@numba.njit(nogil=True, parallel=True, cache=True)
def bandwidth_reference_3point(  # pragma: no cover
    raw: U16, dark: F32, breaks: F32, slopes: F32, out: U16
) -> None:
    """Read raw, dark, the two break planes and the three slope planes, write out."""
    h, w = raw.shape
    for y in numba.prange(h):
        for x in range(w):
            acc = float(raw[y, x]) - float(dark[y, x]) + breaks[0, y, x] + breaks[1, y, x]
            acc += slopes[0, y, x] + slopes[1, y, x] + slopes[2, y, x]
            out[y, x] = np.uint16(max(0.0, acc))


class NumpyCorrection:
    """Vectorised numpy single-point correction with preallocated buffers."""

    def __init__(self, cal: CalibrationSet, full_scale: int) -> None:
        self.cal = cal
        self.full_scale = full_scale
        self.buf = np.empty(cal.shape, np.float32)
        rows, cols = cal.defect_rows_cols
        h, w = cal.shape
        offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
        ny = np.clip(rows[:, None] + np.array([o[0] for o in offsets]), 0, h - 1)
        nx = np.clip(cols[:, None] + np.array([o[1] for o in offsets]), 0, w - 1)
        inside = (rows[:, None] + np.array([o[0] for o in offsets]) == ny) & (
            cols[:, None] + np.array([o[1] for o in offsets]) == nx
        )
        self.flat = rows * w + cols
        self.neighbours = ny * w + nx
        self.weights = (inside & (cal.defects.ravel()[self.neighbours] == 0)).astype(np.float32)
        self.count = np.maximum(self.weights.sum(axis=1), 1)

    def __call__(self, raw: U16, out: U16) -> None:
        buf = self.buf
        np.subtract(raw, self.cal.dark, out=buf)
        np.multiply(buf, self.cal.gain, out=buf)
        np.add(buf, np.float32(self.cal.pedestal_counts), out=buf)
        np.rint(buf, out=buf)
        np.clip(buf, 0, self.full_scale, out=buf)
        np.copyto(out, buf, casting="unsafe")
        flat_out = out.reshape(-1)
        values = flat_out[self.neighbours] * self.weights
        flat_out[self.flat] = np.rint(values.sum(axis=1) / self.count)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def build_time(model: PanelModel, n_dark: int, n_flood: int, levels: Sequence[float]) -> float:
    """Seconds spent in the calibration code (accumulating and building), frames excluded."""
    spec = model.spec
    spent = 0.0
    darks = DarkAccumulator()
    for _ in range(n_dark):
        frame = model.read()
        spent += timed(lambda f=frame: darks.add(f, spec.temp_ref_c))
    floods = []
    for level in levels:
        model.read(level)
        averager = FrameAverager()
        for _ in range(n_flood):
            frame = model.read(level)
            spent += timed(lambda f=frame, a=averager: a.add(f))
        floods.append((level, averager))
    lag = model.read().astype(np.float32)
    start = time.perf_counter()
    dark = darks.result("bench")
    flood_levels = [flood_level(v, a) for v, a in floods]
    build_calibration(
        dark, flood_levels, serial=spec.serial, full_scale=spec.full_scale, lag_dark=lag
    )
    return spent + time.perf_counter() - start


def flood_level(level: float, averager: FrameAverager) -> FloodLevel:
    """The level's mean flood with the panel's median frame variance, as a calibration run."""
    n = averager.count
    variance = float(np.median(averager.std() ** 2)) * n / (n - 1)
    return FloodLevel(level, averager.mean(), n, variance)


def small_set(model: PanelModel) -> CalibrationSet:
    """A 3-point set from 8 darks and 3 x 4 floods: the maps the kernels are timed with."""
    spec = model.spec
    darks = DarkAccumulator()
    for _ in range(8):
        darks.add(model.read())
    floods = []
    for level in (4.0, 8.0, 16.0):
        a = FrameAverager()
        for _ in range(4):
            a.add(model.read(level))
        floods.append(flood_level(level, a))
    return build_calibration(
        darks.result("bench"), floods, serial=spec.serial, full_scale=spec.full_scale,
        lag_dark=model.read().astype(np.float32),
    )  # fmt: skip


def summary(values: list[float]) -> str:
    ms = [v * 1e3 for v in values]
    return f"{statistics.median(ms):8.2f} ms  ({min(ms):.2f}–{max(ms):.2f})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3072)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--calibration-runs", type=int, default=1)
    args = parser.parse_args(argv)
    size = args.size
    print(f"command: python benchmarks/bench_correct.py --size {size} --runs {args.runs}")
    print(
        f"machine: {platform.machine()} {os.cpu_count()} CPUs, numba {numba.__version__} "
        f"({numba.get_num_threads()} threads), numpy {np.__version__}, Python "
        f"{platform.python_version()}"
    )
    spec = PanelSpec(width=size, height=size)
    model = PanelModel(spec, seed=1)
    print("building the calibration (32 darks, 3 x 16 floods)...", file=sys.stderr)
    build_s = [build_time(model, 32, 16, (4.0, 8.0, 16.0)) for _ in range(args.calibration_runs)]
    multi = small_set(model)
    single = dataclasses.replace(multi, pwl=None)
    mean_rule = dataclasses.replace(single, replacement="mean")
    raw = model.read(8.0)
    fs = spec.full_scale
    out = np.empty_like(raw)
    warm_up()
    numpy_engine = NumpyCorrection(single, fs)
    dark, gain = single.dark, single.gain
    breaks, slopes, _ = multi.kernel_gain

    def fused(cal: CalibrationSet) -> Callable[[], object]:
        return lambda: correct(raw, cal, out, full_scale=fs)

    engines: dict[str, Callable[[], object]] = {
        "fused kernel (single-point, directional)": fused(single),
        "fused kernel (3-point gain, directional)": fused(multi),
        "fused kernel (single-point, mean rule)": fused(mean_rule),
        "bandwidth reference (numba)": lambda: bandwidth_reference(raw, dark, gain, out),
        "bandwidth reference, 3-point maps (numba)": lambda: bandwidth_reference_3point(
            raw, dark, breaks, slopes, out
        ),
        "plain numpy (vectorised)": lambda: numpy_engine(raw, out),
    }
    samples: dict[str, list[float]] = {name: [] for name in engines}
    for fn in engines.values():
        fn()  # warm-up (and compile the bandwidth kernel)
    print(f"timing {args.runs} runs...", file=sys.stderr)
    names = list(engines)
    for run in range(args.runs):
        order = names if run % 2 == 0 else names[::-1]
        for name in order:
            samples[name].append(timed(engines[name]))
    med = {n: statistics.median(v) for n, v in samples.items()}
    fused = med[names[0]]
    print(
        f"\n{size}x{size} uint16, {int(np.count_nonzero(single.defects))} defective pixels, "
        f"median (min–max) of {args.runs} runs\n"
    )
    print(f"| {'engine':<42} | {'ms/frame':<28} | frames/s | vs fused |")
    print(f"|{'-' * 44}|{'-' * 30}|{'-' * 10}|{'-' * 10}|")
    for name in names:
        print(
            f"| {name:<42} | {summary(samples[name]):<28} | {1 / med[name]:8.1f} | "
            f"{med[name] / fused:8.2f} |"
        )
    bw = med["bandwidth reference (numba)"]
    bw3 = med["bandwidth reference, 3-point maps (numba)"]
    multi_fused = med["fused kernel (3-point gain, directional)"]
    npy = med["plain numpy (vectorised)"]
    print()
    print(f"fused / bandwidth reference: {fused / bw:.2f} (goal <= 1.3)")
    print(f"3-point / its bandwidth reference: {multi_fused / bw3:.2f} (goal <= 1.3)")
    print(f"numpy / fused:               {npy / fused:.1f} x (goal >= 5)")
    print(f"fused frames/s:              {1 / fused:.1f} (goal >= 60)")
    print(
        f"calibration build (32 darks + 3 x 16 floods, frames not counted): "
        f"{statistics.median(build_s):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time each stage of the acquisition pipeline for one exposure, against references.

Run as::

    python benchmarks/bench_pipeline.py [--runs N] [--size 3072]

What is measured
----------------
A simulated ``size`` × ``size`` panel (default 3072², the 43 cm panel) runs the real code
paths of :class:`panelgate.acquisition.pipeline.Pipeline`, as the demo does:

* **calibration (once)**: ``pipeline.average`` of 8 darks and 8 floods, then
  ``pipeline.calibrate`` (dark, gain and defect maps). One single measurement, made before
  the runs, not a median.
* Then :func:`panelgate.calibration.warm_up` has run and one warm-up run (not counted) has
  been made; each of the ``--runs`` runs (default 5) times, for one phantom exposure:

  - **readout**: ``pipeline.expose`` of the step-wedge / line-pair phantom (the simulator
    computing the frame; it cannot be shorter than the configured ``exposure_s``);
  - **correction**: ``calibration.correct(raw, calset, out, engine="numba")`` into a
    preallocated ``out`` buffer;
  - **presentation**: ``pipeline.present`` (the For Presentation processing of
    :mod:`panelgate.processing` with the ``[processing]`` preset, as the workflow runs it:
    log, field, EI, multi-scale contrast, tone scale);
  - **DX build**: ``pipeline.build`` of that presentation (window, exposure index, the DX
    For Presentation dataset);
  - **Part-10 write**: ``pipeline.write`` into a temporary directory (atomic, fsynced);
  - **PNG preview**: ``acquisition.preview.write_preview`` of the processed image (its
    polarity as displayed), as the workflow writes it;
  - **C-STORE**: ``pipeline.deliver`` into an :class:`EmbeddedPacs` started once on
    127.0.0.1.

Each cell is the median (and min / max) of the runs' wall times (``time.perf_counter``).

How to read the ratios
----------------------
Absolute times depend on the machine and on its load; ratios against a reference measured
in the same run, on the same data, travel better. Every ratio is
``median(stage) / median(reference)``; each reference is timed in every run, next to its
stage, the two in alternating order from run to run:

* correction vs ``correct(..., engine="numpy")``, the plain-numpy reference whose defect
  loop is Python: < 1 means the numba kernel is faster (0.1 = ten times faster). The two
  outputs are checked to be identical in every run.
* correction vs ``np.copyto(dst, src)`` of one uint16 frame of the same size: the memory
  bandwidth floor. The ratio is the kernel's cost in frame copies: per pixel it moves
  12 bytes (reads a uint16 and two float32 maps, writes a uint16) where the copy moves 4,
  so about 3 is a bandwidth-bound kernel. The kernel runs on numba's threads, the copy
  on one.
* Part-10 write vs writing the raw pixel bytes with a plain ``write`` + ``fsync``: what the
  pydicom encoding, the temporary name, the rename and the directory fsync add.
* C-STORE vs dcmtk ``storescu -aec <AE> 127.0.0.1 <port> <file>`` sending the same file to
  the same embedded PACS (subprocess wall time, so it includes dcmtk's process start-up).
  The PACS side (pynetdicom decoding and fsyncing the instance) is common to both, so a
  ratio near 1 means the SCU side is not the bottleneck. The dcmtk binary is looked up on
  ``PATH`` by its ``--version`` output: a ``storescu`` earlier on ``PATH`` that is not
  dcmtk's (pynetdicom installs one) is skipped.

Nothing in the environment is changed. Progress goes to stderr; the report (the exact
command line, machine facts, the table) to stdout.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import numpy.typing as npt
import PIL
import pydicom
import pynetdicom

from panelgate.acquisition.config import CalibrationConfig, Config
from panelgate.acquisition.demo import DEMO_KV, DEMO_MAS
from panelgate.acquisition.pipeline import Corrected, Pipeline
from panelgate.acquisition.preview import write_preview
from panelgate.calibration import CalibrationSet, correct, warm_up
from panelgate.gateway.dicom import StudyContext, Technique
from panelgate.gateway.pacs import Destination, EmbeddedPacs, Outcome
from panelgate.simulators import PanelSpec, SimulatedDetector, step_wedge_line_pairs
from panelgate.simulators.room import air_kerma_ugy

CALIBRATION_FRAMES = 8
"""Darks and floods averaged for the one calibration (each)."""

PACS_AE = "BENCH-PACS"
SUBPROCESS_TIMEOUT_S = 120.0

# Row keys of the samples.
READOUT = "readout"
CORRECT_NUMBA = "correct-numba"
CORRECT_NUMPY = "correct-numpy"
COPY = "copyto"
PRESENT = "present"
BUILD = "build"
WRITE = "write"
WRITE_RAW = "write-raw"
PREVIEW = "preview"
DELIVER = "deliver"
STORESCU = "storescu"
CALIBRATION = "calibration"

STAGES = (
    "readout (expose)",
    "correction (numba)",
    "DX build",
    "Part-10 write",
    "PNG preview",
    "C-STORE (deliver)",
    "calibration (once, 1 measurement)",
    "presentation (processing)",
)
"""The stage labels of the table, in order (the correction has two rows, one per reference)."""


@dataclass(frozen=True)
class Row:
    """One table row: a stage and, optionally, the reference it is compared with."""

    stage: str
    key: str
    reference: str = "—"
    ref_key: str | None = None


@dataclass
class Samples:
    """Wall times in seconds, by row key."""

    seconds: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        """Record one measurement of ``key``."""
        self.seconds.setdefault(key, []).append(value)

    def has(self, key: str | None) -> bool:
        """Whether ``key`` has at least one measurement."""
        return key is not None and bool(self.seconds.get(key))

    def stats_ms(self, key: str) -> tuple[float, float, float, int]:
        """Median, min and max in milliseconds, and the number of measurements."""
        values = self.seconds[key]
        return (
            1e3 * statistics.median(values),
            1e3 * min(values),
            1e3 * max(values),
            len(values),
        )


@dataclass
class Bench:
    """Everything one run needs, set up once."""

    pipeline: Pipeline
    calibration: CalibrationSet
    phantom: npt.NDArray[np.float32]
    out: npt.NDArray[np.uint16]
    out_numpy: npt.NDArray[np.uint16]
    copy_dst: npt.NDArray[np.uint16]
    work: Path
    pacs: EmbeddedPacs
    destination: Destination
    storescu: str | None
    full_scale: int
    study: StudyContext = field(
        default_factory=lambda: StudyContext(
            patient_name="Bench^Phantom",
            patient_id="PG-BENCH-0001",
            study_description="panelgate pipeline benchmark",
        )
    )
    technique: Technique = field(
        default_factory=lambda: Technique(kvp=70.0, exposure_uas=2000.0, exposure_time_ms=20.0)
    )

    @property
    def spool(self) -> Path:
        """Where ``pipeline.write`` puts the instance."""
        return self.work / "spool"


def progress(message: str) -> None:
    """Report progress on stderr, keeping stdout for the report."""
    print(message, file=sys.stderr, flush=True)


def timed(action: Callable[[], object]) -> float:
    """Wall time of ``action()`` in seconds."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def alternating(
    index: int, actions: Sequence[tuple[str, Callable[[], object]]]
) -> list[tuple[str, float]]:
    """Time ``actions`` in an order rotated by ``index``, so none always goes first."""
    shift = index % len(actions)
    rotated = [*actions[shift:], *actions[:shift]]
    return [(key, timed(action)) for key, action in rotated]


def record(samples: Samples | None, timings: Sequence[tuple[str, float]]) -> None:
    """Add ``timings`` to ``samples`` (nothing for the warm-up run)."""
    if samples is not None:
        for key, seconds in timings:
            samples.add(key, seconds)


def find_dcmtk_storescu() -> tuple[str | None, str]:
    """Find dcmtk's ``storescu`` on ``PATH``, skipping others of the same name.

    Returns
    -------
    tuple
        The program's path (None when there is none) and its version line or why not found.
    """
    seen: set[Path] = set()
    skipped: list[str] = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory or ".") / "storescu"
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        real = candidate.resolve()
        if real in seen:
            continue
        seen.add(real)
        try:
            proc = subprocess.run(
                [str(candidate), "--version"],
                capture_output=True,
                text=True,
                timeout=SUBPROCESS_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            skipped.append(str(candidate))
            continue
        lines = [line.strip() for line in (proc.stdout + proc.stderr).splitlines()]
        version = next((line for line in lines if "dcmtk" in line.lower()), None)
        if version is not None:
            return str(candidate), version
        skipped.append(str(candidate))
    why = "dcmtk storescu not found on PATH"
    if skipped:
        why += f" (skipped, not dcmtk: {', '.join(skipped)})"
    return None, why


def filesystem_of(path: Path) -> str:
    """The mount point and file-system type holding ``path`` (Linux), or ``unknown``."""
    best = ("", "unknown")
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return "unknown"
    resolved = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount, fstype = parts[1], parts[2]
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > len(best[0]):
            best = (mount, fstype)
    return f"{best[1]} (mounted on {best[0]})" if best[0] else "unknown"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def calibrate(pipeline: Pipeline, temp_c: float, samples: Samples) -> CalibrationSet:
    """Average darks and floods and build the maps; the one timed calibration."""
    config = pipeline.config.calibration
    start = time.perf_counter()
    darks = pipeline.average(config.dark_frames, 0.0)
    floods = pipeline.average(config.flood_frames, config.flood_air_kerma_ugy)
    calibration = pipeline.calibrate(darks, floods, temp_c)
    samples.add(CALIBRATION, time.perf_counter() - start)
    return calibration


def correct_stage(bench: Bench, raw: npt.NDArray[np.uint16], index: int) -> list[tuple[str, float]]:
    """Time the numba kernel, the numpy reference and the frame copy; check kernel == numpy."""
    cal, fs = bench.calibration, bench.full_scale
    timings = alternating(
        index,
        [
            (CORRECT_NUMBA, lambda: correct(raw, cal, bench.out, full_scale=fs, engine="numba")),
            (
                CORRECT_NUMPY,
                lambda: correct(raw, cal, bench.out_numpy, full_scale=fs, engine="numpy"),
            ),
            (COPY, lambda: np.copyto(bench.copy_dst, raw)),
        ],
    )
    if not np.array_equal(bench.out, bench.out_numpy):
        raise RuntimeError("the numba kernel and the numpy reference disagree: ratio meaningless")
    return timings


def write_raw(pixels: npt.NDArray[np.uint16], path: Path) -> None:
    """The write reference: the pixel bytes, one plain write, flush and fsync."""
    with path.open("wb") as fh:
        fh.write(pixels.data)
        fh.flush()
        os.fsync(fh.fileno())


def store_with_storescu(bench: Bench, path: Path) -> float:
    """Send ``path`` with dcmtk storescu; return the subprocess wall time."""
    if bench.storescu is None:
        raise RuntimeError("no dcmtk storescu to compare with")
    command = [
        bench.storescu,
        "-aec",
        bench.pacs.ae_title,
        "127.0.0.1",
        str(bench.destination.port),
        str(path),
    ]
    before = len(bench.pacs.received)
    start = time.perf_counter()
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, check=False
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or len(bench.pacs.received) != before + 1:
        raise RuntimeError(
            f"{shlex.join(command)} failed (exit {proc.returncode}): "
            f"{(proc.stdout + proc.stderr).strip()[-2000:]}"
        )
    return seconds


def store_with_panelgate(bench: Bench, path: Path) -> float:
    """Send ``path`` with ``pipeline.deliver``; return its wall time."""
    start = time.perf_counter()
    result = bench.pipeline.deliver(path, bench.destination)
    seconds = time.perf_counter() - start
    if result.outcome is not Outcome.SUCCESS:
        raise RuntimeError(f"pipeline.deliver: {result.outcome.name} ({result.status})")
    return seconds


def deliver_stage(bench: Bench, path: Path, index: int) -> list[tuple[str, float]]:
    """Time panelgate's C-STORE and, when dcmtk is there, storescu's, in alternating order."""
    if bench.storescu is None:
        return [(DELIVER, store_with_panelgate(bench, path))]
    if index % 2 == 0:
        ours = store_with_panelgate(bench, path)
        theirs = store_with_storescu(bench, path)
    else:
        theirs = store_with_storescu(bench, path)
        ours = store_with_panelgate(bench, path)
    return [(DELIVER, ours), (STORESCU, theirs)]


def run_once(bench: Bench, index: int, samples: Samples | None) -> None:
    """One exposure through every stage; recorded unless ``samples`` is None (warm-up)."""
    gc.collect()
    pipeline = bench.pipeline
    start = time.perf_counter()
    frame = pipeline.expose(air_kerma_ugy(DEMO_KV, DEMO_MAS), bench.phantom)
    record(samples, [(READOUT, time.perf_counter() - start)])
    record(samples, correct_stage(bench, frame.pixels, index))
    image = Corrected(bench.out, frame, bench.calibration)

    start = time.perf_counter()
    shown = pipeline.present(image)
    record(samples, [(PRESENT, time.perf_counter() - start)])
    start = time.perf_counter()
    ds, window = pipeline.build(image, bench.study, bench.technique, shown)
    record(samples, [(BUILD, time.perf_counter() - start)])

    written: list[Path] = []
    raw_path = bench.work / f"raw-{index}.bin"
    record(
        samples,
        alternating(
            index,
            [
                (WRITE, lambda: written.append(pipeline.write(ds, bench.spool))),
                (WRITE_RAW, lambda: write_raw(image.pixels, raw_path)),
            ],
        ),
    )
    preview_path = bench.work / f"preview-{index}.png"
    record(
        samples,
        [
            (
                PREVIEW,
                timed(
                    lambda: write_preview(
                        shown.pixels, window, preview_path, invert=shown.monochrome1
                    )
                ),
            )
        ],
    )
    record(samples, deliver_stage(bench, written[0], index))

    # Keep the disk use flat: every run writes new files (a new SOP Instance UID each time).
    for path in (written[0], raw_path, preview_path, bench.pacs.directory / written[0].name):
        path.unlink(missing_ok=True)


def rows(size: int, storescu: str | None) -> list[Row]:
    """The table's rows, stage by stage."""
    store_ref = "dcmtk storescu (subprocess)" if storescu else "dcmtk storescu: not found"
    return [
        Row(STAGES[0], READOUT),
        Row(STAGES[1], CORRECT_NUMBA, 'correct(engine="numpy")', CORRECT_NUMPY),
        Row(STAGES[1], CORRECT_NUMBA, f"np.copyto {size}² uint16", COPY),
        Row(STAGES[7], PRESENT),
        Row(STAGES[2], BUILD),
        Row(STAGES[3], WRITE, "raw bytes write + fsync", WRITE_RAW),
        Row(STAGES[4], PREVIEW),
        Row(STAGES[5], DELIVER, store_ref, STORESCU if storescu else None),
        Row(STAGES[6], CALIBRATION),
    ]


def ms(value: float) -> str:
    """Milliseconds with two decimals below 10 ms, one above."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def ratio(value: float) -> str:
    """A ratio with three decimals below 1, two above."""
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def markdown(header: Sequence[str], body: Sequence[Sequence[str]], right: set[int]) -> str:
    """An aligned Markdown table; columns in ``right`` are right-aligned."""
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (w + 1) + ":" if i in right else "-" * (w + 2) for i, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(header), rule, *(line(r) for r in body)])


def stage_table(samples: Samples, table_rows: Sequence[Row]) -> str:
    """The main table: stage | median ms | min | max | reference | ref median ms | ratio."""
    body: list[list[str]] = []
    for row in table_rows:
        median, low, high, n = samples.stats_ms(row.key)
        cells = [row.stage, ms(median), ms(low), ms(high), row.reference, "—", "—"]
        if n == 1:
            cells[2:4] = ["—", "—"]
        if row.ref_key is not None and samples.has(row.ref_key):
            ref_median = samples.stats_ms(row.ref_key)[0]
            cells[5] = ms(ref_median)
            cells[6] = ratio(median / ref_median)
        body.append(cells)
    header = ["stage", "median ms", "min", "max", "reference", "ref median ms", "ratio"]
    return markdown(header, body, right={1, 2, 3, 5, 6})


def reference_table(samples: Samples, table_rows: Sequence[Row]) -> str:
    """The references' own spread: reference | runs | median ms | min | max."""
    body = []
    for row in table_rows:
        if row.ref_key is not None and samples.has(row.ref_key):
            median, low, high, n = samples.stats_ms(row.ref_key)
            body.append([row.reference, str(n), ms(median), ms(low), ms(high)])
    return markdown(["reference", "runs", "median ms", "min", "max"], body, right={1, 2, 3, 4})


def command_line(argv: Sequence[str] | None) -> str:
    """The command line as typed, or its equivalent when :func:`main` was called directly."""
    if argv is None:
        return shlex.join(sys.orig_argv)
    script = Path(__file__).resolve()
    try:
        shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        shown = str(script)
    return shlex.join(["python", shown, *argv]) + "   (equivalent; main(argv) was called)"


def machine_facts(
    bench: Bench,
    storescu_version: str,
    warm_up_s: float,
    load: tuple[float, float, float] | None,
) -> list[str]:
    """What the numbers depend on, as Markdown list items."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    layer: str
    try:
        layer = numba.threading_layer()  # type: ignore[attr-defined]
    except ValueError:  # no parallel kernel has run yet
        layer = "not chosen yet"
    info = bench.pipeline.info
    height, width = bench.out.shape
    return [
        f"python {platform.python_version()} ({sys.executable}) on {platform.platform()}",
        f"CPU: {cpu_model()}; os.cpu_count() = {os.cpu_count()}, usable = {affinity}",
        "load average at start (1, 5, 15 min): "
        + (", ".join(f"{v:.2f}" for v in load) if load else "unknown"),
        f"numpy {np.__version__}, numba {numba.__version__} ({numba.get_num_threads()} threads, "
        f"layer {layer}), pydicom {pydicom.__version__}, "
        f"pynetdicom {pynetdicom.__version__}, Pillow {PIL.__version__}",
        f"storescu reference: {bench.storescu or '—'}: {storescu_version}",
        f"embedded PACS: {bench.destination}; temp dir {bench.work} on {filesystem_of(bench.work)}",
        f"frame: {width}×{height} uint16 ({bench.out.nbytes / 1e6:.1f} MB),"
        f" {len(bench.calibration.defect_rows_cols[0])} defective pixels corrected,"
        f" {info.bits_stored} bits stored",
        f"detector exposure_s = {bench.pipeline.config.detector.exposure_s:g} s "
        "(lower bound of the readout row)",
        f"calibration.warm_up() (numba compile or cache load): {warm_up_s * 1e3:.0f} ms",
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse and check the command line."""
    parser = argparse.ArgumentParser(
        prog="bench_pipeline.py",
        description="Time each pipeline stage for one exposure, with same-run reference ratios.",
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs (default 5)")
    parser.add_argument(
        "--size", type=int, default=3072, help="panel side in pixels (default 3072; 32..8192)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    if not 32 <= args.size <= 8192:
        parser.error(f"--size must be in 32..8192, got {args.size}")
    return args


def benchmark(args: argparse.Namespace, work: Path, samples: Samples) -> tuple[Bench, str, float]:
    """Set up once, calibrate once, then the warm-up run and the timed runs."""
    size = int(args.size)
    warm_up_s = timed(warm_up)
    storescu, storescu_version = find_dcmtk_storescu()
    config = Config(
        calibration=CalibrationConfig(
            dark_frames=CALIBRATION_FRAMES, flood_frames=CALIBRATION_FRAMES
        )
    )
    detector = SimulatedDetector(PanelSpec(width=size, height=size), seed=1)
    with EmbeddedPacs(work / "pacs", ae_title=PACS_AE) as pacs, detector:
        pipeline = Pipeline(detector, config, beam=detector.irradiate)
        pipeline.configure(size, size)
        progress(f"calibrating ({CALIBRATION_FRAMES} darks + {CALIBRATION_FRAMES} floods)...")
        calibration = calibrate(pipeline, detector.status().temp_c, samples)
        shape = (size, size)
        bench = Bench(
            pipeline=pipeline,
            calibration=calibration,
            phantom=step_wedge_line_pairs(size, size, detector.spec.pixel_pitch_mm),
            out=np.empty(shape, dtype=np.uint16),
            out_numpy=np.empty(shape, dtype=np.uint16),
            copy_dst=np.empty(shape, dtype=np.uint16),
            work=work,
            pacs=pacs,
            destination=Destination(
                "127.0.0.1", pacs.port, called_ae=pacs.ae_title, calling_ae="PANELGATE"
            ),
            storescu=storescu,
            full_scale=2**pipeline.info.bits_stored - 1,
        )
        progress("warm-up run (not counted)...")
        run_once(bench, -1, None)
        for index in range(args.runs):
            progress(f"run {index + 1}/{args.runs}...")
            run_once(bench, index, samples)
    return bench, storescu_version, warm_up_s


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report; return the exit status."""
    args = parse_args(argv)
    started = time.perf_counter()
    load_at_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    samples = Samples()
    with tempfile.TemporaryDirectory(prefix="panelgate-bench-") as tmp:
        bench, storescu_version, warm_up_s = benchmark(args, Path(tmp), samples)
        facts = machine_facts(bench, storescu_version, warm_up_s, load_at_start)
    table_rows = rows(int(args.size), bench.storescu)
    print(f"## panelgate pipeline benchmark: {args.size}×{args.size}, {args.runs} run(s)\n")
    print(f"command: `{command_line(argv)}`\n")
    print("\n".join(f"- {fact}" for fact in facts))
    print()
    print(stage_table(samples, table_rows))
    print()
    print("References, measured in the same runs (alternating order with their stage):\n")
    print(reference_table(samples, table_rows))
    print()
    print(
        "ratio = median(stage) / median(reference). vs numpy and vs storescu: < 1 means "
        "panelgate is faster. vs np.copyto: the kernel's cost in frame copies. vs raw write: "
        "what DICOM encoding and the atomic rename add. Medians of "
        f"{args.runs} run(s) after 1 warm-up run; the calibration row is one measurement."
    )
    print(f"\ntotal wall time: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

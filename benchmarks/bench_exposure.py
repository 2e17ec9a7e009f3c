"""Exposure latency and USB stream throughput (issue 5).

Run as::

    python benchmarks/bench_exposure.py [--runs 20] [--size 3072]

What is measured
----------------
* **done → outbox**: for each panel (``sim://`` and ``usb://sim``), ``--runs`` complete
  exposures through :class:`panelgate.acquisition.workflow.ExposureWorkflow` with the
  simulated generator on a real pseudo-terminal. Each run times, with ``time.monotonic``,
  the interval from the generator's exposure-done event (``EV DONE`` parsed) to the DX
  file written atomically into the local spool (the workflow's QUEUED): trigger, readout
  (the simulator computing the frame, ``exposure_s`` = 10 ms), transport (in-process queue
  for ``sim://``; U3V leader / payload / trailer bulk transfers through the pyusb backend
  for ``usb://sim``), correction, DX build, Part-10 write. Median, min and max are shown.
* **USB stream**: ``--runs`` blocks of ``size`` × ``size`` Mono16 over ``usb://sim``; each
  block is read by the driver after the simulated device has queued all its transfers, so
  the figure is the host side (pyusb, staging buffers, copy into the frame) in MB/s
  (10^6 bytes per second), with the device's frame generation excluded.

A calibration from 2 darks and 2 floods is made once per panel, not timed. Progress goes
to stderr; the report to stdout.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from panelgate.acquisition.config import Config, DetectorConfig
from panelgate.acquisition.pipeline import Beam, Pipeline
from panelgate.acquisition.workflow import (
    CalibrationHolder,
    ExposureRequest,
    ExposureWorkflow,
    quick_calibration,
)
from panelgate.calibration import warm_up
from panelgate.drivers import Detector, ReadoutMode
from panelgate.drivers.generator import GeneratorClient
from panelgate.gateway.dicom import StudyContext
from panelgate.simulators import PanelSpec, Room, SimulatedDetector
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator
from panelgate.simulators.usb import open_usb_sim


def _panel(kind: str, size: int, room: Path) -> tuple[Detector, Beam]:
    if kind == "sim://":
        det = SimulatedDetector(PanelSpec(width=size, height=size), seed=1, room=Room(room))
        return det, det.irradiate
    usb = open_usb_sim(f"usb://sim?width={size}&height={size}&seed=1&room={room}")
    return usb, usb.irradiate


def done_to_outbox(kind: str, size: int, runs: int, out: Path) -> list[float]:
    """Run ``runs`` exposures; return the done → spooled intervals in seconds."""
    room = out / "room"
    det, beam = _panel(kind, size, room)
    config = Config(detector=DetectorConfig(exposure_s=0.01, frame_timeout_s=30.0))
    request = ExposureRequest(120, 2, StudyContext(patient_name="Bench^Mark", patient_id="B1"))
    spec = GeneratorSpec(prep_s=0.02, time_scale=0.1)
    with (
        SimulatedGenerator(spec, room=Room(room)) as gen,
        det,
        GeneratorClient(gen.device_path) as client,
    ):
        pipeline = Pipeline(det, config, beam=beam)
        pipeline.configure(size, size)
        holder = CalibrationHolder(quick_calibration(pipeline, frames=2))
        workflow = ExposureWorkflow(pipeline, client, holder, out / kind.strip(":/"))
        workflow.run(request)  # warm-up, not counted
        seconds = []
        for i in range(runs):
            seconds.append(workflow.run(request).done_to_queued_s)
            print(f"{kind} run {i + 1}/{runs}: {seconds[-1] * 1000:.0f} ms", file=sys.stderr)
    return seconds


def usb_stream_mb_s(size: int, runs: int) -> list[float]:
    """Read ``runs`` blocks over usb://sim; return host-side MB/s per block."""
    det = open_usb_sim(f"usb://sim?width={size}&height={size}&seed=1")
    device = det.simulated_device
    rates = []
    with det:
        det.configure(ReadoutMode(size, size, exposure_s=0.001))
        layout = det.stream_layout
        if layout is None:
            raise RuntimeError("the USB panel has no stream layout after configure()")
        transfers = 2 + layout.payload_count + bool(layout.transfer1) + bool(layout.transfer2)
        for _ in range(runs + 1):
            det.arm()
            det.trigger()
            deadline = time.monotonic() + 30
            while device.stream.qsize() < transfers and time.monotonic() < deadline:
                time.sleep(0.005)
            start = time.perf_counter()
            det.read_frame(30)
            rates.append(size * size * 2 / (time.perf_counter() - start) / 1e6)
    return rates[1:]


def _row(name: str, values: Sequence[float], unit: str, scale: float = 1.0) -> str:
    med, lo, hi = (scale * f(values) for f in (statistics.median, min, max))
    return f"| {name} | {med:.1f} {unit} | {lo:.1f} | {hi:.1f} | {len(values)} |"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--size", type=int, default=3072)
    args = parser.parse_args(argv)
    warm_up()
    print(f"command: bench_exposure.py --size {args.size} --runs {args.runs}")
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {platform.node()}")
    print()
    print("| measure | median | min | max | runs |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("sim://", "usb://sim"):
            seconds = done_to_outbox(kind, args.size, args.runs, Path(tmp))
            print(_row(f"done → outbox, {kind} {args.size}²", seconds, "ms", 1000), flush=True)
    rates = usb_stream_mb_s(args.size, args.runs)
    print(_row(f"USB stream, usb://sim {args.size}² Mono16", rates, "MB/s"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

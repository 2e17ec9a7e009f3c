"""The station's latencies: exposure end to committed in Orthanc, and start to ready.

Run as::

    python benchmarks/bench_station.py [--size 3072] [--runs 10] [--starts 3]

What is measured
----------------
A simulated panel (``sim://``, ``size`` × ``size``, 100 ms integration) in the room of the
station's simulated generator (``[station] generator = "sim"``), its calibration a set
measured once here and stored (4 darks, 2 floods per level; not timed), as the station
finds it at start-up.

1. **Exposure end to committed** (goal ≤ 1.0 s at 3072²): the station's service object
   (:class:`~panelgate.station.service.Station`, in this process, ``auto_accept = true``)
   delivering to Orthanc with Storage Commitment. For each of ``--runs`` exposures
   (``Station.expose``, what ``POST /api/expose`` runs), the time from the generator's
   DONE (the workflow's move to READOUT, ``StateChange.t_mono_s``) until the image's
   outbox record is *committed* (Orthanc stored it and its N-EVENT-REPORT reached the
   station's listener); split at QUEUED (the image written to the review folder):
   readout, correction, DX and preview before, queueing, C-STORE and commitment after.
   Median, min, max.
2. **Start to ready** (goal ≤ 3 s, warm numba cache): ``panelgate station --config FILE``
   as a subprocess, from its start until its first line, which it prints once the API
   listens and the room is open (generator, detector connected and configured, the
   stored set chosen and the correction kernel loaded from numba's cache). One start
   first, not timed (it fills the cache); then ``--starts`` timed; median, min, max. The
   line must say the station only waits for an exam (``no exam selected``). Beside it,
   in this process, the time the simulated panel takes to build its per-pixel model
   (offset, gain, defects of ``size``², part of every start with ``sim://``, absent with a
   real panel). Then the phases of those starts, as the station logs them once ready
   (``-v``, :mod:`panelgate.station.startup`): median start, end and duration of each, in
   seconds since the process started (phases that overlap ran side by side).

Orthanc is started here on free ports of 127.0.0.1 (as ``nobody`` when run as root) and
stopped by PID; without Orthanc the first row says so. Progress goes to stderr; the
report to stdout.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from panelgate.acquisition.calrun import CalibrationPlan, run_calibration
from panelgate.acquisition.config import Config
from panelgate.acquisition.pipeline import Pipeline
from panelgate.acquisition.workflow import ExposureState
from panelgate.calibration import CalibrationStore, warm_up
from panelgate.gateway.outbox import State
from panelgate.simulators import SimulatedDetector
from panelgate.station.config import parse_station_config
from panelgate.station.exam import ExamForm
from panelgate.station.service import Station

PANELGATE = str(Path(sys.executable).with_name("panelgate"))
SERIAL = "BENCH-STATION"


def _bench_store() -> ModuleType:
    """bench_store.py beside this file: its Orthanc configuration and process helpers."""
    path = Path(__file__).resolve().with_name("bench_store.py")
    spec = importlib.util.spec_from_file_location("_bench_store_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def panel_url(size: int) -> str:
    return f"sim://?width={size}&height={size}&seed=1&serial={SERIAL}"


def store_set(size: int, store: Path) -> str:
    """Measure a calibration set of the benchmark's panel and store it (not timed)."""
    detector = SimulatedDetector.from_url(panel_url(size))
    with detector:
        pipeline = Pipeline(detector, Config(), beam=detector.irradiate)
        mode = pipeline.configure(size, size)
        calset = run_calibration(
            pipeline.expose, CalibrationPlan(dark_frames=4, flood_frames=2),
            serial=detector.info.serial, mode_key=mode.key,
            full_scale=2**detector.info.bits_stored - 1,
        )  # fmt: skip
    CalibrationStore(store).save(calset)
    return calset.set_id


def station_tables(
    size: int, work: Path, store: Path, ports: dict[str, int] | None
) -> dict[str, Any]:
    """The station's configuration: in ``work``, delivering to Orthanc (or nowhere)."""
    tables: dict[str, Any] = {
        "station": {"state_dir": str(work / "state"), "generator": "sim", "port": 0,
                    "auto_accept": True},
        "detector": {"url": panel_url(size)},
        "calibration": {"directory": str(store)},
        "dicom": {"calling_ae": "AGENT"},
        "outbox": {"reserve_mb": 0, "poll_s": 0.05},
        "retry": {"initial_s": 0.1, "max_s": 1.0},
    }  # fmt: skip
    if ports is None:
        tables["destinations"] = {"nowhere": {"host": "127.0.0.1", "port": 9, "connect_s": 1}}
    else:
        tables["listener"] = {"ae_title": "AGENT", "port": ports["agent"]}
        orthanc = {"host": "127.0.0.1", "port": ports["dicom"], "called_ae": "PGORTHANC",
                   "commitment": True}  # fmt: skip
        tables["destinations"] = {"orthanc": orthanc}
    return tables


def _toml(tables: dict[str, Any]) -> str:
    lines: list[str] = []
    for name, table in tables.items():
        nested = {k: v for k, v in table.items() if isinstance(v, dict)}
        if not nested:
            lines += [f"[{name}]", *(f"{k} = {json.dumps(v)}" for k, v in table.items())]
        for sub, values in nested.items():
            lines += [f"[{name}.{sub}]", *(f"{k} = {json.dumps(v)}" for k, v in values.items())]
    return "\n".join(lines) + "\n"


def _start_orthanc(
    helpers: ModuleType, root: Path
) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    exe = shutil.which("Orthanc")
    assert exe is not None
    (root / "storage").mkdir()
    ports = {
        "dicom": helpers.free_port(),
        "http": helpers.free_port(),
        "agent": helpers.free_port(),
    }
    proc = helpers.run_orthanc(exe, root, helpers.ORTHANC_CONFIG % {"dir": root, **ports})
    helpers.wait_port(ports["dicom"], proc)
    return proc, ports


def _committed(station: Station, uid: str) -> bool:
    return any(
        r.sop_instance_uid == uid for r in station.agent.outbox.records("orthanc", State.COMMITTED)
    )


def exposure_to_committed(size: int, runs: int, work: Path, store: Path) -> list[str]:
    """Row 1: generator DONE to committed in Orthanc, on the station with auto_accept."""
    helpers = _bench_store()
    if shutil.which("Orthanc") is None:
        return ["| exposure end to committed in Orthanc | Orthanc not installed | | | |"]
    root = Path(tempfile.mkdtemp(prefix="pg-bench-station-orthanc-", dir="/tmp"))
    orthanc, ports = _start_orthanc(helpers, root)
    total, before, after = [], [], []
    try:
        station = Station(parse_station_config(station_tables(size, work, store, ports)), seed=1)
        station.start()
        try:
            if station.not_ready() != "no exam selected (POST /api/exam)":
                raise SystemExit(f"the station is not ready: {station.not_ready()}")
            marks: dict[ExposureState, float] = {}
            assert station.room.workflow is not None
            station.room.workflow.subscribe(lambda c: marks.__setitem__(c.new, c.t_mono_s))
            station.select_exam(
                ExamForm(kv=80, mas=2, patient={"id": "BENCH", "name": "Bench^Station"})
            )
            for i in range(runs):
                marks.clear()
                # both stages of the hand switch in one call; the same exam again is a
                # repeat, which the station takes only with a reason (TG-305: test image)
                reason = "test_image" if i else ""
                uid = station.expose(prepare=True, repeat_reason=reason)["sop_instance_uid"]
                while not _committed(station, uid):
                    if time.monotonic() - marks[ExposureState.READOUT] > 60:
                        raise SystemExit(f"exposure {i + 1} not committed within 60 s")
                    time.sleep(0.002)
                t_committed = time.monotonic()
                done, queued = marks[ExposureState.READOUT], marks[ExposureState.QUEUED]
                total.append(t_committed - done)
                before.append(queued - done)
                after.append(t_committed - queued)
                progress(f"exposure {i + 1}/{runs}: DONE to committed {total[-1] * 1000:.0f} ms")
        finally:
            station.drain()
            station.close()
    finally:
        helpers.stop(orthanc)
        shutil.rmtree(root, ignore_errors=True)
    return [
        _row(f"exposure end (DONE) to committed in Orthanc, {size}², auto_accept", total),
        _row("… of which DONE to QUEUED (readout, correction, DX, preview)", before),
        _row("… of which QUEUED to committed (accept, C-STORE, commitment)", after),
    ]


def start_to_ready(size: int, starts: int, work: Path, store: Path) -> tuple[list[str], list[str]]:
    """Row 2: ``panelgate station`` from its start to its first line (ready but for an exam).

    Returns the rows and the table of the start-up's phases.
    """
    work.mkdir()
    config = work / "station.toml"
    config.write_text(_toml(station_tables(size, work, store, None)))
    seconds = []
    phases: list[dict[str, tuple[float, float]]] = []
    for i in range(starts + 1):
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [PANELGATE, "station", "-v", "--config", str(config)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        first = _first_line(proc)
        elapsed = time.monotonic() - t0
        proc.terminate()
        try:
            _out, log = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise SystemExit(f"the station (pid {proc.pid}) did not stop within 60 s") from None
        if "no exam selected" not in first:
            raise SystemExit(f"the station did not start ready: {first!r}")
        if i:  # the first start fills numba's cache
            seconds.append(elapsed)
            phases.append(startup_phases(log))
        progress(f"start {i}{' (warm-up)' if not i else ''}: {elapsed:.2f} s")
    model = []
    for _ in range(starts):  # what a real panel does not cost: the simulator's own model
        t0 = time.monotonic()
        SimulatedDetector.from_url(panel_url(size))
        model.append(time.monotonic() - t0)
    return [
        _row(f"station start to ready (warm numba cache), {size}²", seconds),
        _row(f"… of which the simulated panel builds its {size}² model (not a real panel)", model),
    ], _phase_rows(phases)


_PHASE = re.compile(r"(?:^|, )(.+?) (\d+\.\d+)-(\d+\.\d+)(?=, |$)")


def startup_phases(log: str) -> dict[str, tuple[float, float]]:
    """The phases of the station's ``start-up:`` log line: name → (start, end) in s."""
    for line in log.splitlines():
        _, found, rest = line.partition(" start-up: ready at ")
        if found:
            ready_s, _, listed = rest.partition(" s; ")
            phases = {m[1]: (float(m[2]), float(m[3])) for m in _PHASE.finditer(listed)}
            return {**phases, "ready": (float(ready_s), float(ready_s))}
    raise SystemExit("the station logged no 'start-up:' line (panelgate station -v)")


def _phase_rows(starts: list[dict[str, tuple[float, float]]]) -> list[str]:
    """One row per phase: median start and end (s since the process started), duration."""
    rows = ["| start-up phase (s since the process started) | start | end | duration | n |",
            "|---|---|---|---|---|"]  # fmt: skip
    names = list(starts[0]) if starts else []
    for name in names:
        seen = [s[name] for s in starts if name in s]
        start = statistics.median(a for a, _ in seen)
        end = statistics.median(b for _, b in seen)
        spent = statistics.median(b - a for a, b in seen)
        rows.append(f"| {name} | {start:.2f} | {end:.2f} | {spent * 1000:.0f} ms | {len(seen)} |")
    return rows


def _first_line(proc: subprocess.Popen[str], timeout_s: float = 120.0) -> str:
    """Return the process's first line of output ('' when none within ``timeout_s``)."""
    found: list[str] = []
    stdout = proc.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: found.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return found[0] if found else ""


def _row(name: str, seconds: list[float]) -> str:
    med, lo, hi = (1000 * f(seconds) for f in (statistics.median, min, max))
    return f"| {name} | {med:.0f} ms | {lo:.0f} | {hi:.0f} | {len(seconds)} |"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3072)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args(argv)
    warm_up()
    print(f"command: bench_station.py --size {args.size} --runs {args.runs} --starts {args.starts}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, {platform.node()}")  # fmt: skip
    print()
    print("| station | median | min | max | n |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="pg-bench-station-") as tmp:
        work = Path(tmp)
        progress(f"measuring a calibration set of the {args.size}² panel (not timed)")
        store = work / "store"
        store_set(args.size, store)
        rows, phases = start_to_ready(args.size, args.starts, work / "starts", store)
        for line in rows:
            print(line, flush=True)
        for line in exposure_to_committed(args.size, args.runs, work / "exposures", store):
            print(line, flush=True)
    print()
    for line in phases:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

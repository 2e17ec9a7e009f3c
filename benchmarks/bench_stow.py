"""STOW-RS against C-STORE into the same Orthanc, and the memory a streamed STOW-RS holds.

Run as::

    python benchmarks/bench_stow.py [--count 12] [--size 2048] [--runs 3] [--max-parts 4]

What is measured
----------------
``--count`` distinct DX For Presentation instances of ``--size``² uint16 are built once.
One private Orthanc 1.10.1 on 127.0.0.1, with Debian's orthanc-dicomweb plugin, receives
them in each run, emptied in between, in alternating order:

- **STOW-RS**: the outbox worker (:class:`~panelgate.gateway.outbox.DestinationWorker`) with a
  :class:`~panelgate.gateway.dicomweb.WebDestination` (``--max-parts`` instances a request,
  streamed from the spool, each instance classified and its state persisted);
- **C-STORE**: the same worker with a DIMSE :class:`~panelgate.gateway.pacs.Destination`
  (one association, PDU as Orthanc offers it: 16384).

Both without confirmation (stored is final), so that the two transports are compared, not
QIDO-RS against Storage Commitment. MB/s = bytes of the spooled files (10⁶ B) / wall time
of the delivery rounds (spooling not timed); median of ``--runs``; ratio STOW / C-STORE.
Then one more STOW-RS of all instances under :mod:`tracemalloc`: the peak of Python
memory allocated while sending, against the size of the largest request's body (the
body is read in 1 MiB blocks: the peak stays far below it).

Only 127.0.0.1 is used; Orthanc runs as ``nobody`` when run as root and is stopped by PID.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path
from types import ModuleType

from panelgate.gateway.dicomweb import AnyDestination, WebDestination
from panelgate.gateway.outbox import DestinationWorker, Outbox, RetryPolicy, State
from panelgate.gateway.pacs import Destination

PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _bench_store() -> ModuleType:
    """bench_store.py beside this file: its Orthanc configuration and process helpers."""
    path = Path(__file__).resolve().with_name("bench_store.py")
    spec = importlib.util.spec_from_file_location("_bench_store_for_stow", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


helpers = _bench_store()


def _rest(port: int, path: str, method: str = "GET") -> object:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    with _LOOPBACK.open(request, timeout=60) as response:
        body = response.read()
    return json.loads(body) if body[:1] in (b"[", b"{") else body


def start_orthanc(root: Path) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """Orthanc with the DICOMweb plugin at /dicom-web/, on free ports of 127.0.0.1."""
    exe = shutil.which("Orthanc")
    if exe is None or not Path(PLUGIN).exists():
        raise SystemExit("Orthanc and orthanc-dicomweb are needed (Debian packages)")
    (root / "storage").mkdir()
    ports = {"dicom": helpers.free_port(), "http": helpers.free_port(), "agent": 1}
    text = helpers.ORTHANC_CONFIG % {"dir": root, **ports}
    text = text.replace('"Plugins" : [ ]', f'"Plugins" : [ "{PLUGIN}" ]').replace(
        '"ConcurrentJobs" : 2', '"ConcurrentJobs" : 2, "DicomWeb" : { "Enable" : true }'
    )
    proc = helpers.run_orthanc(exe, root, text)
    helpers.wait_port(ports["dicom"], proc)
    helpers.wait_port(ports["http"], proc)
    return proc, ports


def empty(port: int) -> None:
    """Delete every patient Orthanc holds."""
    for patient in _rest(port, "/patients"):  # type: ignore[union-attr]
        _rest(port, f"/patients/{patient}", method="DELETE")


def deliver(
    work: Path, files: list[Path], destination: AnyDestination, *, trace: bool = False
) -> tuple[float, int]:
    """Spool ``files`` in a fresh outbox (not timed), then deliver all of them.

    Returns the seconds the delivery took and, with ``trace``, the peak of Python memory
    allocated during it (bytes; 0 without).
    """
    root = work / f"outbox-{time.monotonic_ns()}"
    outbox = Outbox(root, ["bench"], reserve_bytes=0)
    for path in files:
        outbox.enqueue_file(path)
    worker = DestinationWorker(outbox, "bench", destination, RetryPolicy(), batch=len(files))
    peak = 0
    try:
        if trace:
            tracemalloc.start()
        t0 = time.perf_counter()
        while len(outbox.records("bench", State.SENT)) < len(files):
            if worker.run_once() == 0:
                raise SystemExit(f"delivery stalled: {outbox.counts()}")
        elapsed = time.perf_counter() - t0
        if trace:
            peak = tracemalloc.get_traced_memory()[1]
    finally:
        if trace:
            tracemalloc.stop()
        worker.stop()
    shutil.rmtree(root, ignore_errors=True)
    return elapsed, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-parts", type=int, default=4)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="pg-bench-stow-", dir="/tmp"))
    root.chmod(0o755)
    orthanc = None
    try:
        work = root / "work"
        work.mkdir()
        files = []
        helpers.progress(f"building {args.count} DX instances of {args.size}²")
        for i in range(args.count):
            path = work / f"dx-{i:02d}.dcm"
            helpers.make_dx(i, args.size).save_as(path, enforce_file_format=True)
            files.append(path)
        total_mb = sum(f.stat().st_size for f in files) / 1e6
        orthanc_root = root / "orthanc"
        orthanc_root.mkdir()
        orthanc, ports = start_orthanc(orthanc_root)
        web = WebDestination(
            f"http://127.0.0.1:{ports['http']}/dicom-web",
            max_parts=args.max_parts,
            commitment=False,
        )
        dimse = Destination("127.0.0.1", ports["dicom"], called_ae="PGORTHANC", calling_ae="BENCH")
        times: dict[str, list[float]] = {"STOW-RS": [], "C-STORE": []}
        for run in range(args.runs):
            order = ["STOW-RS", "C-STORE"] if run % 2 == 0 else ["C-STORE", "STOW-RS"]
            for who in order:
                empty(ports["http"])
                seconds, _ = deliver(work, files, web if who == "STOW-RS" else dimse)
                times[who].append(seconds)
                helpers.progress(f"run {run + 1} {who}: {total_mb / seconds:.0f} MB/s")
        empty(ports["http"])
        _, peak = deliver(work, files, web, trace=True)
        largest = max(
            sum(f.stat().st_size for f in files[i : i + args.max_parts])
            for i in range(0, len(files), args.max_parts)
        )
    finally:
        if orthanc is not None:
            helpers.stop(orthanc)
        shutil.rmtree(root, ignore_errors=True)
    rate = {who: total_mb / statistics.median(t) for who, t in times.items()}
    lines = [
        f"# bench_stow: {' '.join(['bench_stow.py', *(argv or sys.argv[1:])])}",
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {args.count} × {args.size}² "
        f"({total_mb:.1f} MB), Orthanc 1.10.1 + orthanc-dicomweb, median of {args.runs}",
        "",
        "| delivery into Orthanc (outbox worker) | MB/s | runs (s) |",
        "|---|---|---|",
    ]
    for who, t in times.items():
        lines.append(f"| {who} | {rate[who]:.0f} | {', '.join(f'{s:.2f}' for s in t)} |")
    lines += [
        f"| ratio STOW-RS / C-STORE | {rate['STOW-RS'] / rate['C-STORE']:.2f} | |",
        "",
        f"peak Python memory while streaming STOW-RS: {peak / 1e6:.1f} MB "
        f"(largest request body {largest / 1e6:.1f} MB, {args.max_parts} parts)",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""C-STORE throughput against dcmtk, and exposure-to-commitment latency into Orthanc.

Run as::

    python benchmarks/bench_store.py [--count 20] [--size 3072] [--runs 3] [--pdu 131072]

What is measured
----------------
1. **Throughput**: ``--count`` distinct DX For Presentation instances of ``--size``² uint16
   (18.9 MB each at 3072²) are built and spooled once. One dcmtk ``storescp`` (``-pdu
   --pdu``, writing to disk, ``+B`` bit-preserving) receives, in the same run and in
   alternating order:

   - **panelgate**: the outbox worker (:class:`~panelgate.gateway.outbox.DestinationWorker`)
     delivering every spooled instance over one association, each data set streamed from
     its spool file (:class:`~panelgate.gateway.pacs.filestream.FileStreamer`: memory-mapped,
     ``sendmsg``), each reply classified and the outbox state persisted per instance;
   - **dcmtk storescu**: ``storescu -aec STORESCP 127.0.0.1 PORT FILES...`` on the same
     files (subprocess wall time, process start-up included).

   Twice: with ``storescp`` and ``storescu`` as Debian ships them (Nagle's algorithm on),
   then with both started with ``TCP_NODELAY=1`` in their environment, dcmtk's own
   run-time switch. As shipped, each of ``storescp``'s replies waits up to 40 ms for a
   delayed acknowledgement, which panelgate does not let its kernel delay
   (:mod:`panelgate.gateway.pacs.promptness`) and ``storescu`` does; the second pair
   compares the senders without that stall.

   MB/s = total bytes of the files (10⁶ B) / wall time; median of ``--runs``; the ratio is
   panelgate / dcmtk (goal >= 1.0, as shipped).
2. **Latency**: for each of ``--count`` instances, the time from handing the built
   instance to the agent (:meth:`panelgate.acquisition.agent.Agent.enqueue`: spool write
   and fsync included; the exposure is over) until its record is *committed*, i.e. Orthanc
   stored it and its Storage Commitment report reached the agent's listener. Instances are
   sent one at a time; median, min, max.

Only 127.0.0.1 is used; peers are started here and stopped by PID.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pydicom

from panelgate.acquisition.agent import Agent
from panelgate.acquisition.config import Config, DicomConfig
from panelgate.acquisition.gateway_config import (
    DestinationConfig,
    ListenerConfig,
    OutboxConfig,
    RetryConfig,
)
from panelgate.drivers import DetectorInfo, FrameMeta, ReadoutMode
from panelgate.gateway.dicom import (
    Provenance,
    StudyContext,
    Technique,
    build_dx_for_presentation,
    histogram_window,
)
from panelgate.gateway.outbox import DestinationWorker, Outbox, RetryPolicy, State
from panelgate.gateway.pacs import Destination

ORTHANC_CONFIG = """{
  "Name" : "PANELGATE_BENCH", "StorageDirectory" : "%(dir)s/storage",
  "IndexDirectory" : "%(dir)s/storage", "StorageCompression" : false, "Plugins" : [ ],
  "HttpServerEnabled" : true, "HttpPort" : %(http)d, "RemoteAccessAllowed" : false,
  "AuthenticationEnabled" : false, "DicomServerEnabled" : true, "DicomAet" : "PGORTHANC",
  "DicomPort" : %(dicom)d, "DicomCheckCalledAet" : false, "DicomAlwaysAllowEcho" : true,
  "DicomAlwaysAllowStore" : true, "DicomCheckModalityHost" : false,
  "DicomModalities" : { "agent" : { "AET" : "AGENT", "Host" : "127.0.0.1", "Port" : %(agent)d } },
  "MaximumPduLength" : 16384, "StableAge" : 2, "ConcurrentJobs" : 2
}"""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_dcmtk(name: str) -> str:
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            proc = subprocess.run(
                [str(candidate), "--version"], capture_output=True, text=True, check=False
            )
            if "dcmtk" in (proc.stdout + proc.stderr).lower():
                return str(candidate)
    raise SystemExit(f"dcmtk {name} not found on PATH")


def make_dx(seed: int, size: int) -> pydicom.Dataset:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(1000, 16000, (size, size), dtype=np.uint16)
    return build_dx_for_presentation(
        pixels,
        study=StudyContext(patient_name="Bench^Phantom", patient_id="BENCH"),
        technique=Technique(kvp=70.0),
        detector=DetectorInfo(
            serial="BENCH", model="M", manufacturer="panelgate", firmware="1", pixel_pitch_mm=0.139
        ),
        frame=FrameMeta(
            frame_id=seed, t_mono_s=0.0, mode=ReadoutMode(size, size), serial="BENCH", temp_c=30.0
        ),
        provenance=Provenance("bench", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 100.0, "0"),
        window=histogram_window(pixels),
    )


def run_orthanc(exe: str, root: Path, config_text: str) -> subprocess.Popen[bytes]:
    """Start Orthanc with ``config_text`` (written to ``root/orthanc.json``).

    Run as root, Orthanc runs as ``nobody`` (its folder handed over to that user).
    """
    root.chmod(0o755)
    config = root / "orthanc.json"
    config.write_text(config_text)
    config.chmod(0o644)
    argv = [exe, str(config)]
    if os.geteuid() == 0:
        for dirpath, _dirs, names in os.walk(root):
            shutil.chown(dirpath, "nobody", "nogroup")
            for name in names:
                shutil.chown(os.path.join(dirpath, name), "nobody", "nogroup")
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"peer exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def throughput(
    args: argparse.Namespace, work: Path, files: list[Path], dcmtk_env: dict[str, str]
) -> list[str]:
    storescp, storescu = find_dcmtk("storescp"), find_dcmtk("storescu")
    env = {**os.environ, **dcmtk_env}
    setting = " ".join(f"{k}={v}" for k, v in dcmtk_env.items()) or "dcmtk as shipped"
    port = free_port()
    received = work / "received"
    shutil.rmtree(received, ignore_errors=True)
    received.mkdir()
    scp = subprocess.Popen(
        [
            storescp,
            "-aet",
            "STORESCP",
            "-pdu",
            str(args.pdu),
            "-od",
            str(received),
            "+B",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    total = sum(f.stat().st_size for f in files)
    ours: list[float] = []
    theirs: list[float] = []
    try:
        wait_port(port, scp)
        destination = Destination("127.0.0.1", port, called_ae="STORESCP", calling_ae="AGENT")
        for run in range(args.runs):
            order = ["panelgate", "dcmtk"] if run % 2 == 0 else ["dcmtk", "panelgate"]
            for who in order:
                for old in received.iterdir():
                    old.unlink()
                if who == "dcmtk":
                    t0 = time.perf_counter()
                    subprocess.run(
                        [storescu, "-aet", "AGENT", "-aec", "STORESCP", "127.0.0.1", str(port)]
                        + [str(f) for f in files],
                        check=True,
                        stdout=subprocess.DEVNULL,
                        env=env,
                    )
                    theirs.append(time.perf_counter() - t0)
                else:
                    spool = work / f"outbox-{run}"
                    outbox = Outbox(spool, ["dcmtk"])
                    for f in files:
                        outbox.enqueue_file(f)
                    worker = DestinationWorker(
                        outbox, "dcmtk", destination, RetryPolicy(), batch=len(files)
                    )
                    t0 = time.perf_counter()
                    worker.run_once()
                    worker.stop()
                    ours.append(time.perf_counter() - t0)
                    counts = outbox.counts()["dcmtk"]
                    if counts["sent"] != len(files):
                        raise SystemExit(f"panelgate did not send everything: {counts}")
                    shutil.rmtree(spool)
                seconds = (ours if who == "panelgate" else theirs)[-1]
                progress(f"{setting} run {run + 1} {who}: {seconds:.2f} s")
    finally:
        stop(scp)
    mb = total / 1e6
    p, d = statistics.median(ours), statistics.median(theirs)
    return [
        f"## C-STORE throughput, {setting}: {len(files)} DX instances, {mb:.1f} MB, one dcmtk "
        f"storescp (-pdu {args.pdu}, to disk, +B), {args.runs} runs, median (min-max)",
        "",
        "| sender | MB/s | seconds |",
        "|---|---:|---:|",
        f"| panelgate outbox worker (one association, streamed from spool) | {mb / p:.0f} "
        f"({mb / max(ours):.0f}-{mb / min(ours):.0f}) | {p:.2f} |",
        f"| dcmtk storescu (subprocess{', ' + setting if dcmtk_env else ''}) | {mb / d:.0f} "
        f"({mb / max(theirs):.0f}-{mb / min(theirs):.0f}) "
        f"| {d:.2f} |",
        "",
        f"ratio panelgate / dcmtk: **{d / p:.2f}x**"
        + (" (goal >= 1.0x)" if not dcmtk_env else " (dcmtk without its 40 ms reply stall)"),
    ]


def latency(args: argparse.Namespace, work: Path) -> list[str]:
    exe = shutil.which("Orthanc")
    if exe is None:
        return ["## latency: Orthanc not installed"]
    root = Path(tempfile.mkdtemp(prefix="pg-bench-orthanc-", dir="/tmp"))
    (root / "storage").mkdir()
    dicom, http, agent_port = free_port(), free_port(), free_port()
    orthanc = run_orthanc(
        exe, root, ORTHANC_CONFIG % {"dir": root, "http": http, "dicom": dicom, "agent": agent_port}
    )
    samples: list[float] = []
    try:
        wait_port(dicom, orthanc)
        cfg = Config(
            dicom=DicomConfig(calling_ae="AGENT"),
            outbox=OutboxConfig(
                directory=str(work / "latency-outbox"), reserve_mb=0.0, poll_s=0.05
            ),
            retry=RetryConfig(initial_s=0.1, max_s=1.0),
            listener=ListenerConfig(ae_title="AGENT", port=agent_port),
            destinations={
                "orthanc": DestinationConfig(port=dicom, called_ae="PGORTHANC", commitment=True)
            },
        )
        agent = Agent(cfg, seed=1).start()
        try:
            for i in range(args.count):
                ds = make_dx(10_000 + i, args.size)
                t0 = time.perf_counter()
                agent.enqueue(ds)
                uid = str(ds.SOPInstanceUID)
                while not any(
                    r.sop_instance_uid == uid
                    for r in agent.outbox.records("orthanc", State.COMMITTED)
                ):
                    if time.perf_counter() - t0 > 60:
                        raise SystemExit(f"instance {i} not committed within 60 s")
                    time.sleep(0.005)
                samples.append(time.perf_counter() - t0)
                progress(f"latency {i + 1}: {samples[-1] * 1000:.0f} ms")
        finally:
            agent.stop()
        stored = json.loads(
            urllib.request.build_opener(urllib.request.ProxyHandler({}))
            .open(f"http://127.0.0.1:{http}/statistics", timeout=10)
            .read()
        )["CountInstances"]
    finally:
        stop(orthanc)
        shutil.rmtree(root, ignore_errors=True)
    ms = [s * 1000 for s in samples]
    return [
        f"## latency from Agent.enqueue (built instance, {args.size}², spool fsync included) to "
        f"committed (Orthanc stored it and its N-EVENT-REPORT arrived), {args.count} instances",
        "",
        f"median **{statistics.median(ms):.0f} ms** (min {min(ms):.0f}, max {max(ms):.0f}); "
        f"Orthanc holds {stored} instances",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--size", type=int, default=3072)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pdu", type=int, default=131072)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pg-bench-store-") as tmp:
        work = Path(tmp)
        files = []
        progress(f"building {args.count} DX instances of {args.size}²")
        for i in range(args.count):
            path = work / f"dx-{i:02d}.dcm"
            make_dx(i, args.size).save_as(path, enforce_file_format=True)
            files.append(path)
        lines = [
            f"# bench_store: {' '.join(sys.argv)}",
            f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
            "",
        ]
        lines += throughput(args, work, files, {})
        lines += ["", *throughput(args, work, files, {"TCP_NODELAY": "1"})]
        lines += ["", *latency(args, work)]
    print("\n".join(lines))


if __name__ == "__main__":
    main()

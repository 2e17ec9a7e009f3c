"""Soak: many exposures through one station, watching its memory, descriptors and threads.

Run as::

    python benchmarks/soak.py [--exposures 1000] [--size 256] [--every 50] [--warmup 100] [--check]

What runs
---------
``panelgate station`` as a subprocess (a ``sim://`` panel of ``size``², quick-calibrated at
start-up, ``auto_accept``), driven over its HTTP API exactly as the console drives it; the
generator is the simulated one on a pty in this process (the station opens it as a serial
port), in the same simulated room as the panel; the station delivers to Orthanc with
Storage Commitment. Each exposure is one manual patient's exam (``POST /api/exam``) and
one ``POST /api/expose`` with ``prepare`` (the hand switch's two stages in one call).

What is reported
----------------
Every ``--every`` exposures: the station's resident memory (VmRSS), open file descriptors
and threads (``/proc/PID``), and the exposures per minute so far. At the end: delivery
latency percentiles (from the station's ``image`` event, the image accepted and queued,
to its ``committed`` delivery event, both pushed on ``/api/events`` with the station's
clock), and whether every image was committed once: each SOP Instance UID the station
returned is committed on the station and stored in Orthanc, and Orthanc holds no image
the station did not make.

``--check`` exits 1 unless every image was committed once and RSS, descriptors and threads
grew by less than 5 % from exposure ``--warmup`` to the last (descriptors and threads are
small integers: one more is allowed). Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator
from panelgate.simulators.room import Room

PANELGATE = str(Path(sys.executable).with_name("panelgate"))


def _sibling(name: str) -> ModuleType:
    """A benchmark module beside this file (its Orthanc and process helpers)."""
    path = Path(__file__).resolve().with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_soak_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Sample:
    """The station process after ``exposures`` exposures."""

    exposures: int
    rss_mb: float
    fds: int
    threads: int
    per_minute: float


def sample(pid: int, exposures: int, per_minute: float) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_kb = float(fields["VmRSS"].split()[0])
    return Sample(
        exposures=exposures,
        rss_mb=rss_kb / 1024,
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=int(fields["Threads"]),
        per_minute=per_minute,
    )


@dataclass
class Deliveries:
    """Delivery events from the station's event stream: when each image was committed."""

    queued_at: dict[str, float] = field(default_factory=dict)
    committed_at: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    connected: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def follow(self, base: str, stop: threading.Event) -> None:
        with httpx.stream("GET", f"{base}/api/events", timeout=None) as reply:
            kind = ""
            for line in reply.iter_lines():
                self.connected.set()  # the stream's first line: subscribed
                if stop.is_set():
                    return
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind == "image":
                    data = json.loads(line.removeprefix("data: "))
                    with self._lock:
                        self.queued_at.setdefault(data["sop_instance_uid"], data["t_unix_s"])
                elif line.startswith("data: ") and kind == "delivery":
                    data = json.loads(line.removeprefix("data: "))
                    # "released": the outbox let the file go after every destination
                    # committed it, perhaps before the station saw "committed" itself.
                    state = data.get("state")
                    if state in ("committed", "released"):
                        uid = data["sop_instance_uid"]
                        with self._lock:
                            self.committed_at.setdefault(uid, float(data["t_unix_s"]))
                            if state == "committed":
                                self.counts[uid] = self.counts.get(uid, 0) + 1

    def committed(self) -> int:
        with self._lock:
            return len(self.committed_at)


def station_config(work: Path, size: int, tty: str, ports: dict[str, int], api_port: int) -> str:
    room = work / "room"
    url = f"sim://?width={size}&height={size}&seed=1&serial=SOAK-1&room={room}"
    return f"""
[station]
host = "127.0.0.1"
port = {api_port}
generator = "{tty}"
state_dir = "{work / "state"}"
quick_calibration = true
auto_accept = true
[detector]
url = "{url}"
[dicom]
calling_ae = "AGENT"
[outbox]
reserve_mb = 0
poll_s = 0.05
retention_s = 0
commit_timeout_s = 60
[retry]
initial_s = 0.1
max_s = 1.0
[listener]
ae_title = "AGENT"
port = {ports["agent"]}
[destinations.orthanc]
host = "127.0.0.1"
port = {ports["dicom"]}
called_ae = "PGORTHANC"
commitment = true
"""


def _first_line(proc: subprocess.Popen[str], timeout_s: float = 300.0) -> str:
    found: list[str] = []
    assert proc.stdout is not None
    out = proc.stdout
    reader = threading.Thread(target=lambda: found.append(out.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return found[0] if found else ""


def _post(client: httpx.Client, path: str, body: dict[str, Any], refusals: list[str]) -> Any:
    """POST; a 409 (the station not ready: a device glitch) is retried for up to 120 s.

    Each such refusal is kept in ``refusals`` and reported: a console would show it and
    the technician would try again.
    """
    deadline = time.monotonic() + 120
    while True:
        reply = client.post(path, json=body)
        if reply.status_code == 200:
            return reply.json()
        if reply.status_code != 409 or time.monotonic() > deadline:
            raise SystemExit(f"POST {path}: {reply.status_code} {reply.text}")
        refusals.append(reply.json().get("error", reply.text))
        progress(f"POST {path} refused, trying again: {refusals[-1]}")
        time.sleep(1.0)


def settle(base: str, made: list[tuple[str, float]], deliveries: Deliveries) -> None:
    """Wait (at most 120 s) until every image made is committed; say which were not seen."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(
        uid in deliveries.committed_at for uid, _t in made
    ):
        time.sleep(0.2)
    missed = station_committed(base, [u for u, _t in made]) - set(deliveries.committed_at)
    if missed:
        progress(f"{len(missed)} commitment(s) not seen as events: {sorted(missed)}")


def station_committed(base: str, uids: list[str]) -> set[str]:
    """The images the station itself reports committed on every destination."""
    reply = httpx.get(f"{base}/api/images", timeout=60)
    reply.raise_for_status()
    done = set()
    for image in reply.json():
        states = {d["state"] for d in image.get("destinations", {}).values()}
        if image["sop_instance_uid"] in uids and states == {"committed"}:
            done.add(image["sop_instance_uid"])
    return done


def orthanc_uids(http_port: int) -> list[str]:
    """SOP Instance UIDs of every DX instance Orthanc holds."""
    reply = httpx.get(f"http://127.0.0.1:{http_port}/instances?expand", timeout=120)
    reply.raise_for_status()
    uids = []
    for instance in reply.json():
        tags = httpx.get(
            f"http://127.0.0.1:{http_port}/instances/{instance['ID']}/simplified-tags", timeout=30
        ).json()
        if tags.get("Modality") == "DX":
            uids.append(tags["SOPInstanceUID"])
    return uids


def drive(
    args: argparse.Namespace,
    base: str,
    pid: int,
    deliveries: Deliveries,
    *,
    made: list[tuple[str, float]],
    refusals: list[str],
) -> list[Sample]:
    """Make the exposures through the API, sampling the station every ``--every``."""
    samples: list[Sample] = []
    t0 = time.monotonic()
    with httpx.Client(base_url=base, timeout=120) as client:
        for i in range(1, args.exposures + 1):
            patient = {"id": f"SOAK-{i:05d}", "name": f"Soak^Patient{i}"}
            _post(client, "/api/exam", {"kv": 80, "mas": 2, "patient": patient}, refusals)
            image = _post(client, "/api/expose", {"prepare": True}, refusals)
            made.append((image["sop_instance_uid"], time.time()))
            if i % args.every == 0 or i == args.exposures:
                samples.append(sample(pid, i, i / (time.monotonic() - t0) * 60))
                s = samples[-1]
                progress(
                    f"{i}: RSS {s.rss_mb:.1f} MB, {s.fds} fds, {s.threads} threads, "
                    f"{s.per_minute:.1f}/min, {deliveries.committed()} committed"
                )
    return samples


def soak(args: argparse.Namespace, work: Path) -> tuple[list[Sample], list[float], list[str]]:
    """Run the soak; returns the samples, the latencies and the problems found."""
    bench_station = _sibling("bench_station")
    helpers = bench_station._bench_store()
    orthanc_root = Path(tempfile.mkdtemp(prefix="pg-soak-orthanc-", dir="/tmp"))
    orthanc, ports = bench_station._start_orthanc(helpers, orthanc_root)
    room = Room(work / "room")
    spec = GeneratorSpec(prep_s=0.05, time_scale=0.1)
    samples: list[Sample] = []
    made: list[tuple[str, float]] = []
    refusals: list[str] = []
    stop = threading.Event()
    deliveries = Deliveries()
    try:
        with SimulatedGenerator(spec, seed=4, room=room) as generator:
            api_port = helpers.free_port()
            config = work / "station.toml"
            config.write_text(
                station_config(work, args.size, generator.device_path, ports, api_port)
            )
            log = work / "station.log"
            with log.open("w") as err:
                station = subprocess.Popen(
                    [PANELGATE, "station", "--config", str(config)], stdout=subprocess.PIPE,
                    stderr=err, stdin=subprocess.DEVNULL, text=True,
                )  # fmt: skip
            try:
                first = _first_line(station)
                if "no exam selected" not in first:
                    raise SystemExit(f"the station did not start: {first!r} {log.read_text()}")
                base = f"http://127.0.0.1:{api_port}"
                follower = threading.Thread(
                    target=deliveries.follow, args=(base, stop), daemon=True
                )
                follower.start()
                if not deliveries.connected.wait(60):
                    raise SystemExit("no event stream from the station")
                samples = drive(args, base, station.pid, deliveries, made=made, refusals=refusals)
                settle(base, made, deliveries)
                samples.append(sample(station.pid, args.exposures, samples[-1].per_minute))
            finally:
                stop.set()
                station.terminate()
                try:
                    station.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    station.kill()
                    station.wait()
        stored = orthanc_uids(ports["http"])
    finally:
        helpers.stop(orthanc)
        shutil.rmtree(orthanc_root, ignore_errors=True)
    problems = _problems(made, deliveries, stored)
    print(f"requests refused while the station was not ready (retried): {len(refusals)}")
    for reason in sorted(set(refusals)):
        print(f"  {refusals.count(reason)} x {reason}")
    latencies = [
        deliveries.committed_at[uid] - deliveries.queued_at[uid]
        for uid, _t in made
        if uid in deliveries.committed_at and uid in deliveries.queued_at
    ]
    return samples, latencies, problems


def _problems(
    made: list[tuple[str, float]], deliveries: Deliveries, stored: list[str]
) -> list[str]:
    uids = [uid for uid, _t in made]
    problems = []
    if len(set(uids)) != len(uids):
        problems.append("the station returned a SOP Instance UID twice")
    missing = [u for u in uids if u not in deliveries.committed_at]
    if missing:
        problems.append(f"{len(missing)} image(s) never committed, e.g. {missing[0]}")
    twice = [u for u, n in deliveries.counts.items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} image(s) reported committed more than once")
    if sorted(stored) != sorted(set(uids)):
        extra = set(stored) - set(uids)
        problems.append(
            f"Orthanc holds {len(stored)} DX instances for {len(uids)} exposures"
            f" ({len(extra)} the station did not make)"
        )
    return problems


def growth(samples: list[Sample], warmup: int) -> dict[str, float]:
    """Relative growth of RSS, descriptors and threads from ``warmup`` to the last sample."""
    base = next(s for s in samples if s.exposures >= warmup)
    last = samples[-1]
    return {
        "rss": last.rss_mb / base.rss_mb - 1,
        "fds": (last.fds - base.fds) / base.fds,
        "threads": (last.threads - base.threads) / base.threads,
        "fds_delta": last.fds - base.fds,
        "threads_delta": last.threads - base.threads,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if not 0 < args.warmup <= args.exposures:
        parser.error("--warmup must be between 1 and --exposures")
    print(
        f"command: soak.py --exposures {args.exposures} --size {args.size} --every {args.every}"
        f" --warmup {args.warmup}"
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="pg-soak-") as tmp:
        samples, latencies, problems = soak(args, Path(tmp))
    print()
    print("| exposures | RSS MB | fds | threads | exposures/min |")
    print("|---|---|---|---|---|")
    for s in samples:
        print(f"| {s.exposures} | {s.rss_mb:.1f} | {s.fds} | {s.threads} | {s.per_minute:.1f} |")
    print()
    if latencies:
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        print(
            f"delivery latency (image queued to committed), n={len(latencies)}:"
            f" p50 {q[49] * 1000:.0f} ms, p90 {q[89] * 1000:.0f} ms,"
            f" p99 {q[98] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
        )
    g = growth(samples, args.warmup)
    print(
        f"growth from exposure {args.warmup} to {samples[-1].exposures}: RSS {g['rss']:+.1%},"
        f" fds {g['fds']:+.1%} ({g['fds_delta']:+.0f}), threads {g['threads']:+.1%}"
        f" ({g['threads_delta']:+.0f})"
    )
    print("every image committed once: " + ("yes" if not problems else "; ".join(problems)))
    if args.check:
        flat = (
            g["rss"] < 0.05
            and (g["fds"] < 0.05 or g["fds_delta"] <= 1)
            and (g["threads"] < 0.05 or g["threads_delta"] <= 1)
        )
        if problems or not flat:
            print("check: FAILED")
            return 1
        print("check: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

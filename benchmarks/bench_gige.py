"""GigE Vision throughput over loopback: panelgate's driver vs aravis, from the same simulator.

Run as root (it makes its own network namespace)::

    python benchmarks/bench_gige.py [--seconds 6] [--size 3072] [--packet-size 8192] [--rate 5]

What is measured
----------------
``panelgate simulate gige`` serves a ``size``² Mono16 panel (default 3072², 18.9 MB a
frame) on 127.0.0.1, free-running at ``--rate`` Hz (default 5 Hz, the rate aravis sustained
at this size in gige-vision.md §4.3) with ``--packet-size`` byte GVSP packets. Receiving from
the same simulator process, one after the other, in the same run:

* **ours**: :class:`panelgate.drivers.gige.GigEDetector` (trigger off, continuous), frames
  taken through the detector contract's ``stream()`` (drop-oldest, 4 deep; its drops are
  printed) for ``--seconds``;
* **aravis**: ``arv-camera-test-0.8 -n 127.0.0.1 --no-packet-socket -a -i PACKET -f RATE``
  for the same time.

Each prints complete frames/s, MB/s (complete frames only, 1 MB = 1e6 B) and incomplete
frames; the ratio is ours / aravis (goal >= 1 with 0 incomplete). The same pair is then run
with the simulator dropping 1 % of stream packets (both receivers use PACKETRESEND).
Everything runs inside ``unshare -n`` with only loopback up: GigE discovery broadcasts,
and no packet may leave loopback.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from panelgate.drivers import ReadoutMode
from panelgate.drivers.gige import GigEDetector

PANELGATE = str(Path(sys.executable).with_name("panelgate"))


def _start_simulator(size: int, loss: float, link_mbps: int) -> subprocess.Popen[str]:
    argv = [PANELGATE, "simulate", "gige", "--address", "127.0.0.1", "--width", str(size),
            "--height", str(size), "--loss-ratio", str(loss),
            "--link-speed-mbps", str(link_mbps)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # the "GigE simulator ... on ..." line
    return proc


def _ours(args: argparse.Namespace) -> dict[str, float]:
    det = GigEDetector.from_url(f"gige://127.0.0.1?packet_size={args.packet_size}")
    det.connect()
    try:
        det.configure(ReadoutMode(args.size, args.size, exposure_s=0.01))
        det.set_feature("TriggerMode", "Off")
        det.set_feature("AcquisitionFrameRate", float(args.rate))
        with det.stream(None, timeout_s=5.0, depth=4, policy="drop-oldest") as stream:
            next(stream)  # the first frame includes the simulator's warm-up
            before = det.counters()
            start = time.perf_counter()
            frames, elapsed = 0, 0.0
            for _ in stream:
                frames += 1
                if (elapsed := time.perf_counter() - start) >= args.seconds:
                    break
            after = det.counters()
            dropped = stream.counters().dropped
        buffer_bytes = det._require_receiver().receive_buffer_bytes  # benchmark only
    finally:
        det.close()
    incomplete = after.get("frames_incomplete", 0) - before.get("frames_incomplete", 0)
    resent = after.get("packets_resent", 0) - before.get("packets_resent", 0)
    return {"fps": frames / elapsed, "incomplete": incomplete, "resent": resent,
            "buffer": buffer_bytes, "dropped": dropped}  # fmt: skip


def _aravis(args: argparse.Namespace) -> dict[str, float]:
    argv = ["arv-camera-test-0.8", "-n", "127.0.0.1", "--no-packet-socket", "-a",
            "-i", str(args.packet_size), "-f", f"{args.rate:g}",
            "--duration", f"{args.seconds:g}"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False).stdout

    def value(name: str) -> int:
        match = re.search(rf"{name}\s*=\s*(\d+)", out)
        return int(match.group(1)) if match else -1

    return {"fps": value("n_completed_buffers") / args.seconds, "incomplete": value("n_failures"),
            "resent": value("n_resent_packets"), "buffer": -1, "dropped": -1}  # fmt: skip


def _inner(args: argparse.Namespace) -> None:
    frame_mb = args.size * args.size * 2 / 1e6
    print(f"{args.size}x{args.size} Mono16 ({frame_mb:.1f} MB/frame), "
          f"packets {args.packet_size} B, requested {args.rate} Hz, link {args.link_mbps} Mb/s, "
          f"{args.seconds} s per receiver, loopback in a netns")  # fmt: skip
    print(f"{'loss':>5} {'receiver':>9} {'frames/s':>9} {'MB/s':>8} {'incomplete':>10} "
          f"{'resent pkts':>11} {'SO_RCVBUF':>10} {'dropped':>7}")  # fmt: skip
    for loss in (0.0, 0.01):
        sim = _start_simulator(args.size, loss, args.link_mbps)
        try:
            results = {"ours": _ours(args), "aravis": _aravis(args)}
        finally:
            sim.terminate()
            sim.wait()
        for name, r in results.items():
            buffer = f"{r['buffer'] / 2**20:.0f} MiB" if r["buffer"] > 0 else "auto"
            print(f"{loss:>5.0%} {name:>9} {r['fps']:>9.2f} {r['fps'] * frame_mb:>8.1f} "
                  f"{int(r['incomplete']):>10} {int(r['resent']):>11} {buffer:>10} "
                  f"{'-' if r['dropped'] < 0 else int(r['dropped']):>7}")  # fmt: skip
        ratio = results["ours"]["fps"] / max(results["aravis"]["fps"], 1e-9)
        print(f"{loss:>5.0%} ratio ours/aravis (frames/s): {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--size", type=int, default=3072)
    parser.add_argument("--packet-size", type=int, default=8192)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument(
        "--link-mbps", type=int, default=10000,
        help="the simulated panel's link (default 10000: 10GigE, so that the receivers, not "
        "the link, are measured; 1000 caps 3072² Mono16 at about 6 frames/s)",
    )  # fmt: skip
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        if [n for _, n in socket.if_nameindex()] != ["lo"]:
            sys.exit("bench_gige: --inner outside a loopback-only namespace; refusing to run")
        _inner(args)
        return
    argv = [sys.executable, os.path.abspath(__file__), "--inner", *sys.argv[1:]]
    quoted = " ".join("'" + a + "'" for a in argv)
    proc = subprocess.run(["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {quoted}"],
                          check=False)  # fmt: skip
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()

"""The console's latency: exposure end to the preview painted in the browser.

Run as::

    python benchmarks/bench_console.py [--size 3072] [--runs 10]

What is measured
----------------
``panelgate station`` (a subprocess) with a simulated panel (``sim://``, ``size`` ×
``size``) in the room of its simulated generator (``[station] generator = "sim"``),
quickly calibrated at start-up (not timed), delivering nowhere (images stay pending
review). Debian's Chromium (Playwright, headless, 1280x800) opens the console, enters a
manual patient and, ``--warmup`` times untimed (compilation, caches) then ``--runs``
times, presses Prepare (a repeat reason after the first) and Expose as a technician does.

For each exposure:

- **DONE to painted** (goal 1.5 s at 3072² on 2 cores, issue 13): from the generator's
  DONE, the ``exposure`` event with ``event == "done"`` that the station pushes over
  ``/console/events`` (its ``t_unix_s``, stamped by the station when the workflow moves
  to READOUT), until the console has drawn the preview on its canvas (the image's load
  event, the window/level pass, then the next animation frame:
  ``performance.timeOrigin + performance.now()``, the same wall clock on this machine).
- **DONE to preview file** (the reference, measured in the same run): from the same
  DONE until the station's preview PNG was written (its mtime): what the station itself
  takes (readout, correction, DX, preview); the rest of the first figure is the
  browser's (the API's answer, the PNG's download and decoding, the canvas).

Median, min and max of each, and the median of their per-exposure difference. Progress
goes to stderr; the report to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

PANELGATE = str(Path(sys.executable).with_name("panelgate"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
START_TIMEOUT_S = 600.0  # quick calibration of a 3072² panel on a loaded machine
STEP_TIMEOUT_MS = 120_000


def _config(root: Path, size: int) -> Path:
    path = root / "station.toml"
    path.write_text(
        "\n".join(
            [
                "[station]", 'host = "127.0.0.1"', "port = 0", 'generator = "sim"',
                f"state_dir = {json.dumps(str(root / 'state'))}", "quick_calibration = true",
                "[detector]",
                f'url = "sim://?width={size}&height={size}&seed=1&serial=BENCH-1"',
                "[dicom]", 'calling_ae = "BENCH"',
                "[destinations.nowhere]", 'host = "127.0.0.1"', "port = 9", "connect_s = 1",
            ]
        )
        + "\n"
    )  # fmt: skip
    return path


def _start(config: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    with log.open("w") as err:
        proc = subprocess.Popen(
            [PANELGATE, "station", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(proc.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(START_TIMEOUT_S)
    match = re.search(r"API on (http://[\d.]+:\d+)/api/", found[0] if found else "")
    if match is None:
        proc.kill()
        proc.wait()
        raise SystemExit(f"the station did not start: {log.read_text()[-2000:]}")
    return proc, match.group(1)


def _expose_once(page: Any) -> tuple[str, float, dict[str, Any]]:
    """Prepare (with a repeat reason when asked) and expose; return uid, painted, DONE event."""
    before = page.evaluate("window.pgPreviewPainted ? window.pgPreviewPainted.uid : ''")
    page.evaluate("window.pgExposureEvents = []")
    page.click("#prepare")
    page.wait_for_function(
        "document.querySelector('#repeat-dialog').open ||"
        " !document.querySelector('#expose').disabled"
    )
    if page.evaluate("document.querySelector('#repeat-dialog').open"):
        page.select_option("#repeat-reason", "test image")
        page.click("#repeat-ok")
    page.wait_for_selector("#expose:not([disabled])")
    page.click("#expose")
    page.wait_for_function(
        "(b) => window.pgPreviewPainted && window.pgPreviewPainted.uid !== b", arg=before
    )
    painted = page.evaluate("window.pgPreviewPainted")
    done = [e for e in page.evaluate("window.pgExposureEvents") if e["event"] == "done"]
    if len(done) != 1:
        raise SystemExit(f"expected one DONE event for the exposure, got {done}")
    return str(painted["uid"]), float(painted["t_unix_ms"]) / 1e3, done[0]


def _row(name: str, values: list[float]) -> str:
    return (
        f"{name:<34} median {statistics.median(values):7.3f} s   "
        f"min {min(values):7.3f} s   max {max(values):7.3f} s"
    )


def _measure(url: str, root: Path, warmup: int, runs: int) -> tuple[list[float], list[float]]:
    """Drive the console; return DONE->painted and DONE->preview-file of each timed run."""
    painted_s: list[float] = []
    file_s: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(STEP_TIMEOUT_MS)
        page.goto(url + "/")
        page.wait_for_selector("#stream:text('live')")
        page.click("#manual summary")
        page.fill("#m-name", "Bench^Console")
        page.fill("#m-id", "BENCH-1")
        page.wait_for_selector("#manual-use:not([disabled])")
        page.click("#manual-use")
        for _ in range(warmup):
            _expose_once(page)
        for run in range(runs):
            uid, painted, done = _expose_once(page)
            preview = root / "state" / "images" / "preview" / f"{uid}.png"
            written = preview.stat().st_mtime_ns / 1e9
            painted_s.append(painted - done["t_unix_s"])
            file_s.append(written - done["t_unix_s"])
            print(
                f"run {run + 1}: painted {painted_s[-1]:.3f} s, file {file_s[-1]:.3f} s",
                file=sys.stderr,
            )
        browser.close()
    return painted_s, file_s


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (see the module docstring); print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3072, help="panel width and height, px")
    parser.add_argument("--runs", type=int, default=10, help="exposures timed")
    parser.add_argument(
        "--warmup", type=int, default=1, help="exposures first, not timed (JIT, caches)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pg-bench-console-") as tmp:
        root = Path(tmp)
        print(f"starting the station ({args.size}², quick calibration)...", file=sys.stderr)
        proc, url = _start(_config(root, args.size), root / "station.err")
        try:
            painted_s, file_s = _measure(url, root, args.warmup, args.runs)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
    browser_part = [a - b for a, b in zip(painted_s, file_s, strict=True)]
    print(f"console latency, {args.size}x{args.size}, {args.runs} exposures")
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {python}")
    print(_row("DONE -> preview painted (browser)", painted_s))
    print(_row("DONE -> preview file (station)", file_s))
    print(_row("browser part (painted - file)", browser_part))
    ratio = statistics.median(painted_s) / statistics.median(file_s)
    print(f"painted / file (medians): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Smoke tests of benchmarks/bench_pipeline.py and bench_station.py: a tiny run prints every row."""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType

import pytest

STAGES = (
    "readout (expose)",
    "correction (numba)",
    "DX build",
    "Part-10 write",
    "PNG preview",
    "C-STORE (deliver)",
    "calibration (once, 1 measurement)",
)


def test_tiny_run_prints_a_row_for_every_stage(
    load_benchmark: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_benchmark("bench_pipeline")

    assert bench.main(["--size", "256", "--runs", "1"]) == 0

    out = capsys.readouterr().out
    first_cells = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("|")]
    for stage in STAGES:
        assert stage in first_cells, f"no table row for {stage!r} in:\n{out}"
    # The correction is compared with two references: the numpy engine and a frame copy.
    assert first_cells.count("correction (numba)") == 2
    assert "--size 256 --runs 1" in out
    if os.environ.get("PANELGATE_REQUIRE_PEERS") == "1":
        assert "dcmtk storescu: not found" not in out, out


def test_station_benchmark_tiny_run_prints_both_latencies(
    load_benchmark: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_benchmark("bench_station")

    assert bench.main(["--size", "128", "--runs", "1", "--starts", "1"]) == 0

    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert "station start to ready (warm numba cache), 128²" in rows, out
    committed = "exposure end to committed in Orthanc"
    measured = [name for name in rows if name.startswith("exposure end (DONE) to committed")]
    assert measured or committed in rows, out
    if os.environ.get("PANELGATE_REQUIRE_PEERS") == "1":
        assert measured, out
    assert "--size 128 --runs 1 --starts 1" in out

"""Smoke test of benchmarks/bench_pipeline.py: a tiny run prints a row for every stage."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_pipeline.py"

STAGES = (
    "readout (expose)",
    "correction (numba)",
    "DX build",
    "Part-10 write",
    "PNG preview",
    "C-STORE (deliver)",
    "calibration (once, 1 measurement)",
)


def load_script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_pipeline", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is created.
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_prints_a_row_for_every_stage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_script(monkeypatch)

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

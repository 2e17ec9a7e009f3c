"""Smoke test of benchmarks/bench_correct.py: a tiny run prints every engine and the ratios."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_correct.py"


def test_tiny_run_prints_every_engine_and_the_goals(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("bench_correct", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert module.main(["--size", "192", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    for row in ("fused kernel (single-point", "3-point gain", "bandwidth reference", "numpy"):
        assert row in out
    for goal in ("goal <= 1.3", "goal >= 5", "goal >= 60", "calibration build"):
        assert goal in out

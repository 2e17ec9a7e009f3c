"""Smoke test of benchmarks/bench_correct.py: a tiny run prints every engine and the ratios."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest


def test_tiny_run_prints_every_engine_and_the_goals(
    load_benchmark: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_benchmark("bench_correct")
    assert module.main(["--size", "192", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    for row in ("fused kernel (single-point", "3-point gain", "bandwidth reference", "numpy"):
        assert row in out
    for goal in ("goal <= 1.3", "goal >= 5", "goal >= 60", "calibration build"):
        assert goal in out

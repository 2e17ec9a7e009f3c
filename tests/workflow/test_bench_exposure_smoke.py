"""Smoke test of benchmarks/bench_exposure.py: a tiny run prints every row."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest


def test_tiny_run_prints_every_row(
    load_benchmark: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_benchmark("bench_exposure")
    assert module.main(["--size", "128", "--runs", "2"]) == 0
    out = capsys.readouterr().out
    for row in ("done → outbox, sim:// 128²", "done → outbox, usb://sim 128²", "USB stream"):
        assert row in out, out

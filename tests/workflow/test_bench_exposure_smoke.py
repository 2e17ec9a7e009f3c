"""Smoke test of benchmarks/bench_exposure.py: a tiny run prints every row."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_exposure.py"


def test_tiny_run_prints_every_row(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("bench_exposure", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert module.main(["--size", "128", "--runs", "2"]) == 0
    out = capsys.readouterr().out
    for row in ("done → outbox, sim:// 128²", "done → outbox, usb://sim 128²", "USB stream"):
        assert row in out, out

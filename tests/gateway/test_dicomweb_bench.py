"""Smoke test of benchmarks/bench_stow.py: a tiny run prints every row (no timing asserted)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.timeout(300)


def test_tiny_run_prints_both_transports_the_ratio_and_the_memory(
    load_benchmark: Callable[[str], ModuleType],
    require_peer: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    require_peer("Orthanc")
    bench = load_benchmark("bench_stow")
    if not Path(bench.PLUGIN).exists():
        require_peer("orthanc-dicomweb-plugin")  # fails under PANELGATE_REQUIRE_PEERS, else skips

    assert bench.main(["--count", "3", "--size", "256", "--runs", "1", "--max-parts", "2"]) == 0

    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ")}
    assert {"STOW-RS", "C-STORE", "ratio STOW-RS / C-STORE"} <= rows, out
    assert "peak Python memory while streaming STOW-RS" in out
    assert "--count 3 --size 256 --runs 1 --max-parts 2" in out

"""The short soak (issue 17): 100 exposures through a station process, counts asserted.

``benchmarks/soak.py --check`` drives ``panelgate station`` over its HTTP API with the pty
generator and Orthanc (Storage Commitment) and exits 1 unless every image was committed
once and the station's memory, descriptors and threads stayed flat after the warm-up.
Nothing here is timed; the long soak's figures are in the README.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


@pytest.mark.timeout(1200)
def test_hundred_exposures_all_committed_once_and_the_station_stays_flat(
    require_peer: Callable[[str], str], tmp_path: Path
) -> None:
    require_peer("Orthanc")
    run = subprocess.run(
        [sys.executable, str(SOAK), "--exposures", "100", "--size", "64", "--every", "25",
         "--warmup", "50", "--check"],
        capture_output=True, text=True, timeout=1100, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert "every image committed once: yes" in run.stdout, run.stdout + run.stderr[-3000:]
    assert "check: passed" in run.stdout, run.stdout
    assert run.returncode == 0
    rows = [line for line in run.stdout.splitlines() if line.startswith("| 100 |")]
    assert rows, run.stdout

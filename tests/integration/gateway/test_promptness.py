"""No 40 ms delayed-ACK stall per reply from a DCMTK peer (see gateway/pacs/promptness.py).

The count is the kernel's own (TcpExt DelayedACKs), in a network namespace that holds only
this exchange: no timing, so the test is as reliable on a busy machine as on a quiet one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pydicom

from panelgate.gateway.dicom import write_atomic

PROBE = Path(__file__).resolve().with_name("promptness_probe.py")
COUNT = 10


def test_replies_from_storescp_are_acknowledged_at_once(
    tmp_path: Path,
    loopback_namespace: Callable[[list[str]], list[str]],
    require_peer: Callable[[str], str],
    dx: Callable[..., pydicom.Dataset],
) -> None:
    storescp = require_peer("storescp")
    ds = dx(1, size=64)
    path = tmp_path / "small.dcm"
    write_atomic(ds, path)
    proc = subprocess.run(
        loopback_namespace([sys.executable, str(PROBE), storescp, str(path), str(COUNT)]),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    # The control: pynetdicom as it comes waits for a delayed ACK at least once per
    # C-STORE, so the peer still splits its replies and the count measures something.
    assert counts["pynetdicom"] >= COUNT, counts
    assert counts["panelgate"] <= 1, counts

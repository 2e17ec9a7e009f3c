"""No 40 ms delayed-ACK stall per PDU from a DCMTK peer (see gateway/pacs/promptness.py).

The count is the kernel's own (TcpExt DelayedACKs), in a network namespace that holds only
these exchanges: no timing, so the test is as reliable on a busy machine as on a quiet one.
Each control, pynetdicom as it comes against the same dcmtk program, shows that the peer
still writes its PDUs in two parts, so that the count measures something.
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

Wrap = Callable[[list[str]], list[str]]


def _probe(loopback_namespace: Wrap, *args: str) -> dict[str, int]:
    proc = subprocess.run(
        loopback_namespace([sys.executable, str(PROBE), *args]),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts: dict[str, int] = json.loads(proc.stdout.strip().splitlines()[-1])
    return counts


def test_replies_from_storescp_are_acknowledged_at_once(
    tmp_path: Path,
    loopback_namespace: Wrap,
    require_peer: Callable[[str], str],
    dx: Callable[..., pydicom.Dataset],
) -> None:
    path = tmp_path / "small.dcm"
    write_atomic(dx(1, size=64), path)
    counts = _probe(
        loopback_namespace, "requester", require_peer("storescp"), str(path), str(COUNT)
    )
    # pynetdicom as it comes waits for a delayed ACK at least once per C-STORE.
    assert counts["requester_plain"] >= COUNT, counts
    assert counts["requester"] <= 1, counts


def test_requests_from_echoscu_are_acknowledged_at_once(
    loopback_namespace: Wrap, require_peer: Callable[[str], str]
) -> None:
    counts = _probe(loopback_namespace, "listener", require_peer("echoscu"), str(COUNT))
    # A pynetdicom server as it comes waits for a delayed ACK at least once per C-ECHO.
    assert counts["listener_plain"] >= COUNT, counts
    assert counts["listener"] <= 1, counts

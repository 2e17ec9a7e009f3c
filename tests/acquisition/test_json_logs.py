"""``--log-format json``: every log line is one JSON object, still without patient data."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pydicom


def test_json_log_lines_parse_and_carry_no_patient_data(
    tmp_path: Path,
    dx: Callable[..., pydicom.Dataset],
    require_peer: Callable[[str], str],
    get_free_port: Callable[[], int],
) -> None:
    port = get_free_port()
    scp = subprocess.Popen(
        [require_peer("storescp"), "-od", str(tmp_path), "-aet", "PACS", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[dicom]\ncalling_ae = "AGENT"\n\n[outbox]\ndirectory = "{tmp_path / "outbox"}"\n'
        f'reserve_mb = 1\n\n[destinations.pacs]\nport = {port}\ncalled_ae = "PACS"\n'
    )
    ds = dx(7, patient="Secret^Patient")
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "a.dcm", enforce_file_format=True)
    (tmp_path / "in" / "b.dcm").write_bytes(b"not DICOM")
    try:
        run = subprocess.run(
            [sys.executable, "-m", "panelgate.station", "-v", "--log-format", "json",
             "send", str(tmp_path / "in"), "--to", "pacs", "--config", str(config)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        scp.terminate()
        scp.wait(timeout=10)
    lines = run.stderr.splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    others = [line for line in lines if not line.startswith("{")]
    assert records, run.stderr
    # the user's one line for the bad file stays plain text; nothing else is
    assert len(others) == 1 and others[0].startswith("panelgate send: skipped"), others
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert {r["level"] for r in records} <= {"INFO", "WARNING", "ERROR"}
    assert any(r["logger"].startswith("panelgate.") for r in records)
    for secret in ("Secret", str(ds.PatientID)):
        assert secret not in run.stderr

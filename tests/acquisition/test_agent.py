"""``panelgate send``, ``panelgate outbox`` and ``panelgate agent``: queue, deliver, stop cleanly.

Peers are in-process pynetdicom SCPs on 127.0.0.1 (the embedded PACS); the agent runs as
its own process and is stopped with SIGTERM by PID.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest

from panelgate.acquisition.agent import Agent
from panelgate.acquisition.cli import main
from panelgate.acquisition.config import load_config
from panelgate.drivers import DetectorInfo, FrameMeta, ReadoutMode
from panelgate.gateway.dicom import (
    Provenance,
    StudyContext,
    Technique,
    build_dx_for_presentation,
    histogram_window,
)
from panelgate.gateway.outbox import State
from panelgate.gateway.pacs import EmbeddedPacs

PATIENT_NAME = "Secretname^Patricia"
PATIENT_ID = "PID-0042-SECRET"


def _dx(seed: int) -> pydicom.Dataset:
    pixels = np.random.default_rng(seed).integers(100, 40000, (64, 64), dtype=np.uint16)
    return build_dx_for_presentation(
        pixels,
        study=StudyContext(patient_name=PATIENT_NAME, patient_id=PATIENT_ID),
        technique=Technique(kvp=70.0),
        detector=DetectorInfo(
            serial="SN-1", model="M", manufacturer="Acme", firmware="1", pixel_pitch_mm=0.139
        ),
        frame=FrameMeta(
            frame_id=seed, t_mono_s=0.0, mode=ReadoutMode(64, 64), serial="SN-1", temp_c=30.0
        ),
        provenance=Provenance("cal", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 100.0, "0"),
        window=histogram_window(pixels),
    )


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs(tmp_path / "pacs", ae_title="EMBEDDED") as server:
        yield server


def _config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[outbox]
directory = "{tmp_path / "outbox"}"
reserve_mb = 1
poll_s = 0.1
retention_s = 3600
audit_file = "{tmp_path / "audit.jsonl"}"

[retry]
initial_s = 0.1
max_s = 0.5

[destinations.pacs]
port = {port}
called_ae = "EMBEDDED"
"""
    )
    return path


def test_send_queues_files_and_the_agent_delivers_them_until_sigterm(
    tmp_path: Path, pacs: EmbeddedPacs, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, pacs.port)
    incoming = tmp_path / "incoming" / "nested"
    incoming.mkdir(parents=True)
    uids = []
    for seed in range(3):
        ds = _dx(seed)
        ds.save_as(incoming / f"{seed}.dcm", enforce_file_format=True)
        uids.append(str(ds.SOPInstanceUID))
    (incoming / "notes.txt").write_text("not DICOM")

    assert main(["send", str(incoming.parent), "--to", "pacs", "--config", str(config)]) == 1
    out, err = capsys.readouterr()
    assert "3 instance(s) queued for pacs" in out and "skipped" in err and "notes.txt" in err
    assert main(["send", str(incoming / "0.dcm"), "--to", "pacs", "--config", str(config)]) == 0
    assert main(["send", str(incoming), "--to", "elsewhere", "--config", str(config)]) == 2, (
        "an unknown destination name is a usage error"
    )
    assert "unknown destination elsewhere" in capsys.readouterr().err

    assert main(["outbox", "list", "--config", str(config)]) == 0
    assert "pacs: 3 pending" in capsys.readouterr().out

    exe = Path(sys.executable).parent / "panelgate"
    log = tmp_path / "agent.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [str(exe), "agent", "--config", str(config)], stdout=fh, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while len(pacs.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sorted(p.stem for p in pacs.received) == sorted(uids)
    assert "stopped (pacs: 3 sent)" in log.read_text()
    assert main(["outbox", "list", "--state", "sent", "--config", str(config)]) == 0
    listing = capsys.readouterr().out
    assert all(uid in listing for uid in uids)


def test_outbox_retry_and_purge_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, 104)
    outbox = Agent(load_config(config)).outbox
    for seed in range(2):
        (record,) = outbox.enqueue_dataset(_dx(seed))
        outbox.move(outbox.move(record, State.INFLIGHT), State.FAILED, reason="0x0122")
    assert main(["outbox", "list", "--state", "failed", "--config", str(config)]) == 0
    assert capsys.readouterr().out.count("0x0122") == 2
    assert main(["outbox", "retry", "--config", str(config)]) == 0
    assert "2 failed instance(s) queued again" in capsys.readouterr().out
    assert [r.state for r in outbox.records()] == [State.PENDING] * 2
    for record in outbox.records():
        outbox.move(outbox.move(record, State.INFLIGHT), State.FAILED, reason="0x0122")
    assert main(["outbox", "purge", "--state", "failed", "--config", str(config)]) == 0
    assert outbox.records() == [] and not list((outbox.root / "objects").iterdir())
    assert main(["outbox", "purge", "--state", "pending", "--config", str(config)]) == 2


def test_no_patient_data_in_logs_at_info_during_a_full_send(
    tmp_path: Path, pacs: EmbeddedPacs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("pynetdicom").setLevel(logging.INFO)
    agent = Agent(load_config(_config(tmp_path, pacs.port)))
    agent.start()
    try:
        for seed in range(2):
            agent.outbox.enqueue_dataset(_dx(seed))
        deadline = time.monotonic() + 30
        while len(agent.outbox.records("pacs", State.SENT)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        agent.stop()
    assert len(pacs.received) == 2
    assert "C-STORE" in caplog.text  # the send was logged ...
    for secret in (PATIENT_NAME, "Secretname", PATIENT_ID):
        assert secret not in caplog.text  # ... without who it was
    audit = agent.audit.events()
    assert [e["event"] for e in audit if e["event"].startswith("application-")] == [
        "application-start",
        "application-stop",
    ]
    assert {e["event"] for e in audit} == {
        "application-start",
        "instances-transferred",
        "application-stop",
    }
    assert all(PATIENT_ID not in str(e) for e in audit)


def test_agent_without_destination_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    assert main(["agent", "--config", str(config)]) == 2
    assert "no destination configured" in capsys.readouterr().err

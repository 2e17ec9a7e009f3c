"""Chaos: exposures queued while Orthanc stops and starts and the agent is SIGKILLed.

Issue 4 acceptance: afterwards Orthanc holds exactly the N instances, each with the pixel
hash of the spooled file, and the outbox shows all of them committed. Fixed random seed.
"""

from __future__ import annotations

import hashlib
import io
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
import pytest

from panelgate.gateway.outbox import Outbox, State

N_EXPOSURES = 50
SEED = 20260427


def _config(tmp_path: Path, orthanc: Any) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[dicom]
calling_ae = "AGENT"

[outbox]
directory = "{tmp_path / "outbox"}"
reserve_mb = 1
poll_s = 0.1
commit_timeout_s = 3
retention_s = 3600
audit_file = "{tmp_path / "audit.jsonl"}"

[retry]
initial_s = 0.2
max_s = 1
multiplier = 2

[listener]
ae_title = "AGENT"
port = {orthanc.agent_port}
allowed_calling_aes = ["{orthanc.aet}"]

[destinations.orthanc]
port = {orthanc.dicom_port}
called_ae = "{orthanc.aet}"
commitment = true
connect_s = 1
acse_s = 3
dimse_s = 5
network_s = 5
"""
    )
    return path


class AgentProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        exe = Path(sys.executable).parent / "panelgate"
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(exe), "-v", "agent", "--config", str(self.config), "--seed", str(self.starts)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


def test_chaos_orthanc_restarts_and_agent_kills_lose_nothing(
    tmp_path: Path, orthanc_sc: Any, dx: Callable[..., pydicom.Dataset]
) -> None:
    rng = random.Random(SEED)
    config = _config(tmp_path, orthanc_sc)
    agent = AgentProcess(config, tmp_path / "agent.log")
    orthanc_sc.stop()
    agent.start()
    outbox = Outbox(tmp_path / "outbox", ["orthanc"])  # the acquisition side, another process
    datasets = [dx(seed, size=64) for seed in range(N_EXPOSURES)]
    spooled = {}
    events = ["orthanc-start", "kill", "orthanc-stop", "kill", "orthanc-start", "kill"]
    at = sorted(rng.sample(range(1, N_EXPOSURES), len(events)))
    schedule = dict(zip(at, events, strict=True))
    try:
        for index, ds in enumerate(datasets):
            outbox.enqueue_dataset(ds)
            spooled[str(ds.SOPInstanceUID)] = hashlib.sha256(ds.PixelData).hexdigest()
            event = schedule.get(index)
            if event == "kill":
                time.sleep(rng.uniform(0.0, 1.5))  # a random moment of the agent's work
                agent.kill()
                agent.start()
            elif event == "orthanc-start":
                orthanc_sc.start()
            elif event == "orthanc-stop":
                orthanc_sc.stop()
            time.sleep(rng.uniform(0.0, 0.1))

        deadline = time.monotonic() + 90
        while len(outbox.records("orthanc", State.COMMITTED)) < N_EXPOSURES:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"not all committed: {outbox.counts()}\nagent log:\n{agent.log()}\n"
                    f"Orthanc log:\n{orthanc_sc.log()}"
                )
            assert agent.proc is not None and agent.proc.poll() is None, agent.log()
            time.sleep(0.2)
        assert agent.terminate() == 0, agent.log()
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.kill()

    assert agent.starts == 4
    instances = orthanc_sc.rest("/instances")
    assert len(instances) == N_EXPOSURES
    stored = {}
    for instance in instances:
        ds = pydicom.dcmread(io.BytesIO(orthanc_sc.file(instance)))
        stored[str(ds.SOPInstanceUID)] = hashlib.sha256(ds.PixelData).hexdigest()
    assert stored == spooled
    for uid, digest in spooled.items():
        spool_file = pydicom.dcmread(outbox.object_path(uid))
        assert hashlib.sha256(spool_file.PixelData).hexdigest() == digest
    counts = outbox.counts()["orthanc"]
    assert counts == {"pending": 0, "inflight": 0, "sent": 0, "committed": N_EXPOSURES, "failed": 0}
    assert "stopped" in agent.log()

"""Gateway integration fixtures: small DX instances and an Orthanc that knows the agent."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# -- a restartable Orthanc that knows the agent (for Storage Commitment) and serves a worklist --

ORTHANC_SC_CONFIG = """{
  // Private loopback PACS for the gateway tests: commitment reports go to the agent.
  "Name" : "PANELGATE_GATEWAY_TEST",
  "StorageDirectory" : "${PG_ORTHANC_DIR}/storage",
  "IndexDirectory" : "${PG_ORTHANC_DIR}/storage",
  "StorageCompression" : false,
  "Plugins" : [ "/usr/share/orthanc/plugins/libModalityWorklists.so" ],
  "Worklists" : {
    "Enable" : true,
    "Database" : "${PG_ORTHANC_DIR}/mwl",
    "FilterIssuerAet" : false,
    "LimitAnswers" : 0
  },
  "HttpServerEnabled" : true,
  "HttpPort" : ${PG_ORTHANC_HTTP_PORT},
  "RemoteAccessAllowed" : false,
  "AuthenticationEnabled" : false,
  "DicomServerEnabled" : true,
  "DicomAet" : "PGORTHANC",
  "DicomPort" : ${PG_ORTHANC_DICOM_PORT},
  "DicomCheckCalledAet" : false,
  "DicomAlwaysAllowEcho" : true,
  "DicomAlwaysAllowStore" : true,
  "DicomAlwaysAllowFind" : true,
  "DicomAlwaysAllowFindWorklist" : true,
  "DicomAlwaysAllowGet" : false,
  "DicomAlwaysAllowMove" : false,
  "DicomCheckModalityHost" : false,
  "DicomModalities" : {
    "agent" : { "AET" : "AGENT", "Host" : "127.0.0.1", "Port" : ${PG_AGENT_PORT} }
  },
  "UnknownSopClassAccepted" : false,
  "StorageCommitmentReportsSize" : 100,
  "MaximumPduLength" : 16384,
  "StableAge" : 2,
  "ConcurrentJobs" : 2
}
"""

_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class OrthancSC:
    """A private Orthanc on fixed ports that can be stopped and started again (same data)."""

    aet = "PGORTHANC"

    def __init__(self, exe: str, root: Path, ports: list[int]) -> None:
        self.exe = exe
        self.root = root
        self.dicom_port, self.http_port, self.agent_port = ports
        self.proc: subprocess.Popen[bytes] | None = None
        (root / "storage").mkdir()
        (root / "mwl").mkdir()
        self.config = root / "orthanc.json"
        self.config.write_text(ORTHANC_SC_CONFIG)
        self.config.chmod(0o644)
        self.log_path = root / "orthanc.log"

    def start(self) -> None:
        env = {
            **os.environ,
            "PG_ORTHANC_DIR": str(self.root),
            "PG_ORTHANC_DICOM_PORT": str(self.dicom_port),
            "PG_ORTHANC_HTTP_PORT": str(self.http_port),
            "PG_AGENT_PORT": str(self.agent_port),
        }
        argv = [self.exe, str(self.config)]
        if os.geteuid() == 0:
            for dirpath, dirnames, filenames in os.walk(self.root):
                for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                    shutil.chown(name, "nobody", "nogroup")
            argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"Orthanc exited while starting:\n{self.log()}")
            try:
                system = self.rest("/system")
                with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=1):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            assert system["DicomPort"] == self.dicom_port
            return
        pytest.fail(f"Orthanc did not start within 30 s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def rest(self, path: str, *, method: str = "GET", data: bytes | None = None) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method
        )
        with _LOOPBACK.open(request, timeout=10.0) as response:
            body = response.read()
        return json.loads(body) if body[:1] in (b"[", b"{") else body

    def file(self, instance: str) -> bytes:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/instances/{instance}/file"
        )
        with _LOOPBACK.open(request, timeout=10.0) as response:
            return bytes(response.read())

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "<no log>"


@pytest.fixture
def orthanc_sc(
    require_peer: Callable[[str], str], get_free_port: Callable[[], int]
) -> Iterator[OrthancSC]:
    """A started Orthanc that sends Storage Commitment reports to AE AGENT on ``agent_port``."""
    exe = require_peer("Orthanc")
    root = Path(tempfile.mkdtemp(prefix="pg-orthanc-sc-", dir="/tmp"))
    root.chmod(0o755)
    ports: list[int] = []
    while len(ports) < 3:
        port = get_free_port()
        if port not in ports:
            ports.append(port)
    peer = OrthancSC(exe, root, ports)
    try:
        peer.start()
        yield peer
    finally:
        peer.stop()
        shutil.rmtree(root, ignore_errors=True)

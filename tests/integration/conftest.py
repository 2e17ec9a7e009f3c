"""Real PACS peers for end-to-end tests: a private Orthanc and a DCMTK storescp.

Both peers are child processes of the test, reached on 127.0.0.1 only (neither has a bind
option: they listen on every interface), and stopped by the PID the fixture recorded.
A peer that fails to start fails the test with its own log in the message.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from panelgate.acquisition.cli import main

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
ORTHANC_AET = "PGORTHANC"
STORESCP_AET = "STORESCP"

# Our own Orthanc configuration; Orthanc substitutes ${NAME} from its environment.
ORTHANC_CONFIG = """{
  // Private loopback PACS for panelgate integration tests.
  "Name" : "PANELGATE_TEST_PACS",
  "StorageDirectory" : "${PG_ORTHANC_DIR}/storage",
  "IndexDirectory" : "${PG_ORTHANC_DIR}/storage",
  "StorageCompression" : false,
  "Plugins" : [ ],
  "HttpServerEnabled" : true,
  "HttpPort" : ${PG_ORTHANC_HTTP_PORT},
  "RemoteAccessAllowed" : false,
  "AuthenticationEnabled" : false,
  "DicomServerEnabled" : true,
  "DicomAet" : "${PG_ORTHANC_AET}",
  "DicomPort" : ${PG_ORTHANC_DICOM_PORT},
  "DicomCheckCalledAet" : false,
  "DicomAlwaysAllowEcho" : true,
  "DicomAlwaysAllowStore" : true,
  "DicomAlwaysAllowFind" : false,
  "DicomAlwaysAllowGet" : false,
  "DicomAlwaysAllowMove" : false,
  "DicomCheckModalityHost" : false,
  "DicomModalities" : { },
  "UnknownSopClassAccepted" : false,
  "MaximumPduLength" : 16384,
  "StableAge" : 2,
  "ConcurrentJobs" : 2
}
"""

# A direct opener: requests to 127.0.0.1 must never go through an http_proxy from the environment.
_LOOPBACK_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _distinct_ports(get_free_port: Callable[[], int], n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = get_free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return text[-limit:] if text else "<empty>"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the recorded PID, wait, then SIGKILL if it has not exited in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)


def _scratch_dir(prefix: str) -> Path:
    """A directory under /tmp that an unprivileged peer can traverse (mkdtemp makes it 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def _chown_nobody(path: Path) -> None:
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, d) for d in dirs)]:
            shutil.chown(name, "nobody", "nogroup")
        for name in files:
            shutil.chown(os.path.join(root, name), "nobody", "nogroup")


@dataclass
class OrthancPeer:
    """A running private Orthanc."""

    proc: subprocess.Popen[bytes]
    aet: str
    dicom_port: int
    http_port: int
    root: Path
    storage_dir: Path
    log_path: Path

    def rest(
        self, path: str, *, method: str = "GET", data: bytes | None = None, raw: bool = False
    ) -> Any:
        """Call Orthanc's REST API on 127.0.0.1; JSON-decoded unless ``raw``."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method
        )
        with _LOOPBACK_HTTP.open(request, timeout=10.0) as response:
            body = response.read()
        return body if raw else json.loads(body)

    def log(self) -> str:
        """The tail of Orthanc's stdout and stderr."""
        return _tail(self.log_path)


@pytest.fixture
def orthanc(
    require_peer: Callable[[str], str], get_free_port: Callable[[], int]
) -> Iterator[OrthancPeer]:
    """A fresh private Orthanc for one test (start-up takes well under a second)."""
    exe = require_peer("Orthanc")
    root = _scratch_dir("pg-orthanc-")
    proc: subprocess.Popen[bytes] | None = None
    try:
        storage = root / "storage"
        storage.mkdir()
        config = root / "orthanc.json"
        config.write_text(ORTHANC_CONFIG)
        config.chmod(0o644)
        dicom_port, http_port = _distinct_ports(get_free_port, 2)
        env = {
            **os.environ,
            "PG_ORTHANC_DIR": str(root),
            "PG_ORTHANC_AET": ORTHANC_AET,
            "PG_ORTHANC_DICOM_PORT": str(dicom_port),
            "PG_ORTHANC_HTTP_PORT": str(http_port),
        }
        argv = [exe, str(config)]
        if os.geteuid() == 0:
            _chown_nobody(storage)
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.fail(
                    "running as root, but setpriv (util-linux) is missing to drop to nobody"
                )
            argv = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
        log_path = root / "orthanc.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        peer = OrthancPeer(proc, ORTHANC_AET, dicom_port, http_port, root, storage, log_path)
        system = _wait_for_orthanc(peer)
        assert (system.get("DicomAet"), system.get("DicomPort"), system.get("HttpPort")) == (
            ORTHANC_AET,
            dicom_port,
            http_port,
        ), f"the server on 127.0.0.1:{http_port} is not our Orthanc: {system}"
        if os.geteuid() == 0:
            uid = _real_uid(proc.pid)
            assert uid == pwd.getpwnam("nobody").pw_uid, f"Orthanc runs as uid {uid}, not nobody"
        yield peer
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(root, ignore_errors=True)


def _real_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line in /proc/{pid}/status")


def _wait_for_orthanc(peer: OrthancPeer) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_S
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if peer.proc.poll() is not None:
            pytest.fail(
                f"Orthanc exited with status {peer.proc.returncode} while starting; "
                f"its log:\n{peer.log()}"
            )
        try:
            system: dict[str, Any] = peer.rest("/system")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last_error = repr(exc)
        else:
            if _accepts_connections(peer.dicom_port):
                return system
            last_error = f"HTTP is up but DICOM port {peer.dicom_port} refuses connections"
        time.sleep(0.05)
    pytest.fail(
        f"Orthanc did not answer GET /system on 127.0.0.1:{peer.http_port} within "
        f"{START_TIMEOUT_S:.0f} s (last error: {last_error}); its log:\n{peer.log()}"
    )


@dataclass
class StoreScpPeer:
    """A running DCMTK storescp."""

    proc: subprocess.Popen[bytes]
    aet: str
    port: int
    output_dir: Path
    log_path: Path
    argv: list[str] = field(default_factory=list)

    def log(self) -> str:
        """The tail of storescp's stdout and stderr."""
        return _tail(self.log_path)

    def received(self) -> list[Path]:
        """Files storescp wrote, sorted by name."""
        return sorted(p for p in self.output_dir.iterdir() if p.is_file())


@pytest.fixture
def start_storescp(
    require_peer: Callable[[str], str],
    get_free_port: Callable[[], int],
    tmp_path: Path,
) -> Iterator[Callable[..., StoreScpPeer]]:
    """``start_storescp(*options)`` starts a DCMTK storescp and waits until it accepts TCP.

    It runs ``storescp -aet STORESCP -od DIR +B *options PORT``: bit-preserving, so the file on
    disk holds exactly the data set it received. Every one started is stopped in teardown.
    """
    exe = require_peer("storescp")  # dcmtk's own binary, never pynetdicom's script
    started: list[StoreScpPeer] = []

    def start(*options: str) -> StoreScpPeer:
        index = len(started)
        output_dir = tmp_path / f"storescp-{index}"
        output_dir.mkdir()
        log_path = tmp_path / f"storescp-{index}.log"
        port = get_free_port()
        argv = [exe, "-aet", STORESCP_AET, "-od", str(output_dir), "+B", *options, str(port)]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        peer = StoreScpPeer(proc, STORESCP_AET, port, output_dir, log_path, argv)
        started.append(peer)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _accepts_connections(port):
            if proc.poll() is not None:
                pytest.fail(
                    f"{' '.join(argv)} exited with status {proc.returncode} while starting; "
                    f"its log:\n{peer.log()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"storescp did not accept connections on 127.0.0.1:{port} within "
                    f"{START_TIMEOUT_S:.0f} s; its log:\n{peer.log()}"
                )
            time.sleep(0.05)
        return peer

    try:
        yield start
    finally:
        for peer in started:
            _stop(peer.proc)


@pytest.fixture
def storescp(start_storescp: Callable[..., StoreScpPeer]) -> StoreScpPeer:
    """A DCMTK storescp that accepts and stores everything (AE STORESCP) on a free port."""
    return start_storescp()


@dataclass
class DemoRun:
    """The outcome of ``panelgate demo`` run in-process."""

    rc: int
    out_dir: Path
    spool_files: list[Path]

    @property
    def spool_file(self) -> Path:
        """The one DX file in the spool."""
        assert len(self.spool_files) == 1, f"expected one spool file, got {self.spool_files}"
        return self.spool_files[0]


@pytest.fixture
def run_demo_cli(tmp_path: Path) -> Callable[..., DemoRun]:
    """``run_demo_cli(pacs=(host, port) | None, called_ae=None)`` runs ``panelgate demo``.

    A 256 x 256 simulated panel, 4 darks and 4 floods, through the CLI entry point in this
    process; without ``pacs`` it stores into the embedded PACS.
    """
    runs = 0

    def run(pacs: tuple[str, int] | None = None, called_ae: str | None = None) -> DemoRun:
        nonlocal runs
        runs += 1
        out = tmp_path / f"demo-{runs}"
        argv = ["demo", "--out", str(out)]
        if pacs is not None:
            argv += ["--pacs", f"{pacs[0]}:{pacs[1]}"]
        if called_ae is not None:
            argv += ["--called-ae", called_ae]
        argv += [
            "--detector",
            "sim://?width=256&height=256&seed=5",
            "--dark-frames",
            "4",
            "--flood-frames",
            "4",
        ]
        rc = main(argv)
        return DemoRun(rc, out, sorted((out / "outbox" / "objects").glob("*.dcm")))

    return run

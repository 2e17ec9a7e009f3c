"""``panelgate agent`` delivers to a DICOMweb destination exactly as to a DIMSE one (issue 17, 1).

One Orthanc (with the orthanc-dicomweb plugin) is both destinations: ``web`` over STOW-RS
with QIDO-RS confirmation, ``dimse`` over C-STORE. ``panelgate send`` queues the files,
``panelgate agent`` runs as its own process and is stopped with SIGTERM by PID.
"""

from __future__ import annotations

import importlib.util
import io
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from panelgate.acquisition.cli import main
from panelgate.gateway.outbox import Outbox, State

pytestmark = pytest.mark.timeout(300)


def _load_peers() -> Any:
    path = Path(__file__).with_name("dicomweb_peers.py")
    spec = importlib.util.spec_from_file_location("_dicomweb_peers_agent", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


peers = _load_peers()


@pytest.fixture
def orthanc(require_peer: Callable[[str], str], get_free_port: Callable[[], int]) -> Iterator[Any]:
    with peers.orthanc_web(require_peer, get_free_port, users={"agent": "s3cret-pw"}) as peer:
        yield peer


def test_the_agent_delivers_to_dicomweb_and_dimse_alike(
    tmp_path: Path,
    orthanc: Any,
    dx: Callable[..., pydicom.Dataset],
    capsys: pytest.CaptureFixture[str],
) -> None:
    password_file = tmp_path / "web.password"
    password_file.write_text("s3cret-pw\n")
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[outbox]
directory = "{tmp_path / "outbox"}"
reserve_mb = 1
poll_s = 0.1
retention_s = 3600

[retry]
initial_s = 0.2
max_s = 1

[destinations.web]
kind = "dicomweb"
url = "{orthanc.url}"
auth = "basic"
username = "agent"
password_file = "{password_file}"
max_parts = 2
commitment = true

[destinations.dimse]
host = "127.0.0.1"
port = {orthanc.dicom_port}
called_ae = "{orthanc.aet}"
"""
    )
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    uids = []
    for seed in range(3):
        ds = dx(seed)
        ds.save_as(incoming / f"{seed}.dcm", enforce_file_format=True)
        uids.append(str(ds.SOPInstanceUID))
    argv = ["send", str(incoming), "--to", "web", "--to", "dimse", "--config", str(config)]
    assert main(argv) == 0
    capsys.readouterr()

    log = tmp_path / "agent.log"
    exe = Path(sys.executable).parent / "panelgate"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [str(exe), "-v", "agent", "--config", str(config)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=peers.environ_without_proxy(),
        )
    outbox = Outbox(tmp_path / "outbox", ["web", "dimse"], reserve_bytes=0)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = len(outbox.records("web", State.COMMITTED)) == 3
            if done and len(outbox.records("dimse", State.SENT)) == 3:
                break
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    text = log.read_text()
    assert [r.state for r in outbox.records("web")] == [State.COMMITTED] * 3, text
    assert [r.state for r in outbox.records("dimse")] == [State.SENT] * 3, text
    assert "web: 3 committed" in text and "dimse: 3 sent" in text, text
    held = {}
    for instance in orthanc.instance_ids():
        stored = pydicom.dcmread(io.BytesIO(orthanc.file(instance)))
        held[str(stored.SOPInstanceUID)] = bytes(stored.PixelData)
    assert sorted(held) == sorted(uids)  # both routes, one instance each in the archive
    for uid in uids:
        spooled = pydicom.dcmread(outbox.object_path(uid))
        assert held[uid] == bytes(spooled.PixelData)
    assert "s3cret-pw" not in text
    assert "PID-SECRET" not in text and "Doe^Jane" not in text  # no patient data at -v

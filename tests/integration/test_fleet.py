"""Many stations, one archive (issue 17 §5): the reference deployment of a site, under faults.

Four ``panelgate station`` processes (own state folders, spools and AE titles, simulated
panels and generators) deliver at the same time to one Orthanc over DIMSE with Storage
Commitment and to one Orthanc over DICOMweb (STOW-RS, confirmed by QIDO-RS). During the
run one station is SIGKILLed right after an exposure and started again, and the DIMSE
archive is restarted. Afterwards every image of every station is in both archives exactly
once, with the pixels the station spooled, and every station's outbox holds it committed
for both destinations.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pydicom
import pytest

from panelgate.gateway.outbox import Outbox, State

STATIONS = 4
EXPOSURES = 3  # per station
KILLED = 1  # the station SIGKILLed after its first exposure
PANELGATE = str(Path(sys.executable).with_name("panelgate"))


@functools.cache
def _peers() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "gateway" / "dicomweb_peers.py"
    spec = importlib.util.spec_from_file_location("_fleet_dicomweb_peers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _ae(n: int) -> str:
    return f"STATION{n + 1}"


@pytest.fixture
def archives(
    require_peer: Callable[[str], str], get_free_port: Callable[[], int]
) -> Iterator[tuple[Any, Any, list[int]]]:
    """(DIMSE archive that knows every station's listener, DICOMweb archive, listener ports)."""
    listeners = [get_free_port() for _ in range(STATIONS)]
    with (
        _peers().orthanc_web(require_peer, get_free_port) as dimse,
        _peers().orthanc_web(require_peer, get_free_port) as web,
    ):
        modalities = {
            _ae(n).lower(): {"AET": _ae(n), "Host": "127.0.0.1", "Port": port}
            for n, port in enumerate(listeners)
        }
        text = dimse.config.read_text()
        start = text.index('"DicomModalities"')
        end = text.index("},", text.index("}", start) + 1) + 1
        dimse.config.write_text(
            text[:start] + f'"DicomModalities" : {json.dumps(modalities)}' + text[end:]
        )
        dimse.stop()
        dimse.start()
        yield dimse, web, listeners


def _config(tmp_path: Path, n: int, dimse: Any, web: Any, listener: int, api: int) -> Path:
    state = tmp_path / _ae(n)
    url = f"sim://?width=64&height=64&seed={n + 1}&serial=FLEET-{n + 1}"
    path = tmp_path / f"{_ae(n)}.toml"
    path.write_text(
        f"""
[station]
host = "127.0.0.1"
port = {api}
generator = "sim"
state_dir = "{state}"
quick_calibration = true
auto_accept = true
[detector]
url = "{url}"
[dicom]
calling_ae = "{_ae(n)}"
[outbox]
reserve_mb = 0
poll_s = 0.1
retention_s = 3600
commit_timeout_s = 20
[retry]
initial_s = 0.2
max_s = 2
[listener]
ae_title = "{_ae(n)}"
port = {listener}
allowed_calling_aes = ["{dimse.aet}"]
[destinations.pacs]
host = "127.0.0.1"
port = {dimse.dicom_port}
called_ae = "{dimse.aet}"
commitment = true
[destinations.web]
kind = "dicomweb"
url = "{web.url}"
commitment = true
"""
    )
    return path


class StationProcess:
    """One station subprocess on a fixed API port, restartable with the same state."""

    def __init__(self, config: Path, api_port: int) -> None:
        self.config = config
        self.base = f"http://127.0.0.1:{api_port}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        log = self.config.with_suffix(".log")
        with log.open("a") as err:
            self.proc = subprocess.Popen(
                [PANELGATE, "station", "--config", str(self.config)],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
            )  # fmt: skip
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert "no exam selected" in first, f"{first!r}: {log.read_text()}"

    def expose(self, patient_id: str) -> str:
        with httpx.Client(base_url=self.base, timeout=300) as client:
            exam = {"kv": 70, "mas": 1, "patient": {"id": patient_id, "name": "Fleet^Test"}}
            client.post("/api/exam", json=exam).raise_for_status()
            reply = client.post("/api/expose", json={"prepare": True})
            reply.raise_for_status()
            return str(reply.json()["sop_instance_uid"])

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()


def _pixels(data: bytes) -> bytes:
    return bytes(pydicom.dcmread(io.BytesIO(data)).PixelData)


@pytest.mark.timeout(1500)
def test_four_stations_one_archive_each_image_once_despite_kill_and_restart(
    tmp_path: Path, archives: tuple[Any, Any, list[int]], get_free_port: Callable[[], int]
) -> None:
    dimse, web, listeners = archives
    stations = []
    for n in range(STATIONS):
        api = get_free_port()
        stations.append(StationProcess(_config(tmp_path, n, dimse, web, listeners[n], api), api))
    made: dict[int, list[str]] = {n: [] for n in range(STATIONS)}
    errors: list[BaseException] = []
    try:
        for station in stations:
            station.start()

        def run(n: int) -> None:
            try:
                for i in range(EXPOSURES):
                    made[n].append(stations[n].expose(f"FLEET-{n}-{i}"))
                    if n == KILLED and i == 0:  # queued, probably not yet sent
                        stations[n].kill()
                        stations[n].start()
            except BaseException as exc:  # reported in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(STATIONS)]
        for thread in threads:
            thread.start()
        while sum(map(len, made.values())) < STATIONS and not errors:
            time.sleep(0.1)
        dimse.stop()  # the DIMSE archive goes away in the middle of the run ...
        time.sleep(1.0)
        dimse.start()  # ... and comes back with its data
        for thread in threads:
            thread.join(timeout=900)
        assert not errors, errors
        expected = {uid for uids in made.values() for uid in uids}
        assert len(expected) == STATIONS * EXPOSURES

        def settled() -> bool:
            return all(
                {r.sop_instance_uid for r in _outbox(tmp_path, n).records(d, State.COMMITTED)}
                >= set(made[n])
                for n in range(STATIONS)
                for d in ("pacs", "web")
            )

        deadline = time.monotonic() + 300
        while not settled():
            assert time.monotonic() < deadline, "not every image committed on both destinations"
            time.sleep(0.5)
    finally:
        for station in stations:
            station.stop()

    _check_each_image_once_with_its_pixels(tmp_path, made, expected, (dimse, web))


def _check_each_image_once_with_its_pixels(
    tmp_path: Path, made: dict[int, list[str]], expected: set[str], archives: tuple[Any, ...]
) -> None:
    for archive in archives:
        uids = archive.sop_uids()
        dx = [u for u in uids if u in expected]
        assert sorted(dx) == sorted(expected)  # every image, each exactly once
    for n in range(STATIONS):
        outbox = _outbox(tmp_path, n)
        for uid in made[n]:
            for destination in ("pacs", "web"):
                records = [r for r in outbox.records(destination) if r.sop_instance_uid == uid]
                assert [r.state for r in records] == [State.COMMITTED]
            spooled = _pixels(outbox.object_path(uid).read_bytes())
            for archive in archives:
                (found,) = archive.rest("/tools/lookup", method="POST", data=uid.encode())
                assert _pixels(archive.file(found["ID"])) == spooled


def _outbox(tmp_path: Path, n: int) -> Outbox:
    return Outbox(tmp_path / _ae(n) / "outbox", ["pacs", "web"])

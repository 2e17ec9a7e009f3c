"""Shared fixtures: real peers on loopback, dciodvfy, and a small demo run.

With ``PANELGATE_REQUIRE_PEERS=1`` (set by .ci/run) a test whose peer program is missing
fails instead of being skipped.
"""

from __future__ import annotations

import datetime as dt
import gc
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pydicom
import pytest

from panelgate.acquisition.config import CalibrationConfig, Config
from panelgate.acquisition.demo import run_demo
from panelgate.drivers import DetectorInfo, FrameMeta, ReadoutMode
from panelgate.gateway.dicom import (
    Provenance,
    StudyContext,
    Technique,
    build_dx_for_presentation,
    histogram_window,
)
from panelgate.simulators import PanelSpec, SimulatedDetector

REQUIRE_PEERS = os.environ.get("PANELGATE_REQUIRE_PEERS") == "1"


# pynetdicom installs Python scripts with dcmtk's names (storescu, storescp, findscu, ...);
# a test that asks for a dcmtk peer must get dcmtk's binary, whatever comes first on PATH.
DCMTK_TOOLS = frozenset(
    {
        "storescu",
        "storescp",
        "findscu",
        "echoscu",
        "wlmscpfs",
        "dump2dcm",
        "dcmdump",
        "movescu",
        "getscu",
        "dcmcjpls",
        "dcmdjpls",
    }
)


def _is_dcmtk(path: str) -> bool:
    try:
        proc = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return False
    return "dcmtk" in (proc.stdout + proc.stderr).lower()


def _find_program(name: str) -> str | None:
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(directory, name)
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        if name not in DCMTK_TOOLS or _is_dcmtk(candidate):
            return candidate
    return None


def require_program(name: str) -> str:
    """Return the path of a peer program, or skip (fail under PANELGATE_REQUIRE_PEERS=1).

    For dcmtk tools only dcmtk's own binary counts.
    """
    path = _find_program(name)
    if path is None:
        message = f"peer program {name!r} is not installed (Debian packages: see README)"
        if REQUIRE_PEERS:
            pytest.fail(message + " and PANELGATE_REQUIRE_PEERS=1")
        pytest.skip(message)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _collect_garbage_in_the_test_that_made_it() -> Iterator[None]:
    """Run the garbage collector at the end of every test.

    An unclosed socket is reported when it is collected; without this, a leak (pynetdicom
    3.0 leaks the socket of a refused or failed TLS connection) is blamed on whichever test
    happens to run when the collector next runs.
    """
    yield
    gc.collect()


@pytest.fixture
def load_benchmark(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    """``load_benchmark("bench_correct")`` imports benchmarks/bench_correct.py as a module."""

    def load(name: str) -> ModuleType:
        script = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # dataclasses look their module up in sys.modules while the class is created.
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def require_peer() -> Callable[[str], str]:
    """``require_peer("storescp")`` returns the program's path, or skips / fails (see module)."""
    return require_program


def netns_command(argv: list[str]) -> list[str]:
    """Wrap ``argv`` so that it runs in a new network namespace holding only loopback (up)."""
    quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in argv)
    return ["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {quoted}"]


def _namespace_problem() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare (util-linux) and ip (iproute2) are needed for a loopback-only namespace"
    probe = subprocess.run(
        netns_command(["true"]), capture_output=True, text=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        return f"cannot create a loopback-only network namespace: {probe.stderr.strip()}"
    return None


@pytest.fixture
def loopback_namespace() -> Callable[[list[str]], list[str]]:
    """``loopback_namespace(argv)`` wraps a command to run in its own loopback-only namespace.

    Made with ``unshare -n`` (root or CAP_SYS_ADMIN). When no namespace can be made the test
    FAILS with the reason: what runs there broadcasts, or counts the namespace's packets.
    """
    problem = _namespace_problem()
    if problem is not None:
        pytest.fail(problem)
    return netns_command


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    """Wait until something listens on 127.0.0.1:``port`` (a peer just started)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"nothing listens on 127.0.0.1:{port} after {timeout_s:g} s")
            time.sleep(0.05)


@pytest.fixture
def wait_listening() -> Callable[[int], None]:
    """``wait_listening(port)``: wait until a peer started by the test listens there."""
    return wait_for_port


@pytest.fixture
def get_free_port() -> Callable[[], int]:
    """``get_free_port()`` returns a TCP port on 127.0.0.1 that was free a moment ago."""
    return free_port


def run_dciodvfy(path: Path) -> tuple[list[str], list[str]]:
    """Validate a DICOM file with dicom3tools; return its Error and Warning lines.

    dciodvfy's exit status is unreliable: the verdict is the count of lines starting
    with ``Error``.
    """
    exe = require_program("dciodvfy")
    proc = subprocess.run(
        [exe, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    lines = (proc.stdout + proc.stderr).splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    warnings = [line for line in lines if line.startswith("Warning")]
    return errors, warnings


@pytest.fixture
def dciodvfy() -> Callable[[Path], tuple[list[str], list[str]]]:
    require_program("dciodvfy")
    return run_dciodvfy


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One demo run on a 256x256 simulated panel into the embedded PACS."""
    out = tmp_path_factory.mktemp("demo")
    config = Config(calibration=CalibrationConfig(dark_frames=4, flood_frames=4))
    detector = SimulatedDetector(PanelSpec(width=256, height=256), seed=11)
    return run_demo(out, config, detector=detector)


DX_DETECTOR = DetectorInfo(
    serial="SN-7", model="M", manufacturer="Acme", firmware="1.2", pixel_pitch_mm=0.139
)
DX_PROVENANCE = Provenance(
    "abc123", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), 100.0, "0.1.0"
)


def make_dx(seed: int = 0, size: int = 64, patient: str = "Doe^Jane") -> pydicom.Dataset:
    """A valid DX For Presentation dataset with seeded pixels."""
    pixels = np.random.default_rng(seed).integers(100, 40000, (size, size), dtype=np.uint16)
    meta = FrameMeta(
        frame_id=seed, t_mono_s=0.0, mode=ReadoutMode(size, size), serial="SN-7", temp_c=30.0
    )
    return build_dx_for_presentation(
        pixels,
        study=StudyContext(patient_name=patient, patient_id="PID-SECRET-1"),
        technique=Technique(kvp=81.0, exposure_uas=3200.0, exposure_time_ms=12.5),
        detector=DX_DETECTOR,
        frame=meta,
        provenance=DX_PROVENANCE,
        window=histogram_window(pixels),
    )


@pytest.fixture
def dx() -> Callable[..., pydicom.Dataset]:
    """``dx(seed=0, size=64)`` builds a small DX For Presentation dataset."""
    return make_dx


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``mount(name, size="256k", ro=False)`` mounts a fresh tmpfs at tmp_path/name."""
    if os.geteuid() != 0:
        message = "mounting a tmpfs needs root"
        if REQUIRE_PEERS:
            pytest.fail(message + " and PANELGATE_REQUIRE_PEERS=1")
        pytest.skip(message)
    mounted: list[Path] = []

    def make(name: str, size: str = "256k", *, ro: bool = False) -> Path:
        where = tmp_path / name
        where.mkdir()
        options = f"size={size},mode=0755" + (",ro" if ro else "")
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        mounted.append(where)
        return where

    try:
        yield make
    finally:
        for where in reversed(mounted):
            subprocess.run(["umount", str(where)], check=True, capture_output=True, timeout=30)


@pytest.fixture
def worklist_scp(
    tmp_path: Path, require_peer: Callable[[str], str], get_free_port: Callable[[], int]
) -> Iterator[Callable[..., int]]:
    """``worklist_scp(items)`` starts dcmtk wlmscpfs (AE WLAE) serving ``items``; gives its port."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(items: list[str]) -> int:
        root = tmp_path / "wl"
        (root / "WLAE").mkdir(parents=True)
        (root / "WLAE" / "lockfile").touch()  # wlmscpfs answers nothing without it
        for n, text in enumerate(items):
            dump = root / f"item{n}.dump"
            dump.write_text(text)
            subprocess.run(
                [require_peer("dump2dcm"), "+te", str(dump), str(root / "WLAE" / f"item{n}.wl")],
                check=True, capture_output=True,
            )  # fmt: skip
        port = get_free_port()
        proc = subprocess.Popen(
            [require_peer("wlmscpfs"), "-dfp", str(root), str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(proc)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("wlmscpfs did not start")
                time.sleep(0.05)

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def _dx_worklist_item(
    accession: str, patient: str, patient_id: str, study_uid: str, *, station_ae: str
) -> str:
    """A dump2dcm text of one DX step scheduled today for ``station_ae`` (PS3.4 K.6.1)."""
    today = dt.date.today().strftime("%Y%m%d")
    return f"""\
(0008,0005) CS  [ISO_IR 100]
(0008,0050) SH  [{accession}]
(0010,0010) PN  [{patient}]
(0010,0020) LO  [{patient_id}]
(0010,0030) DA  [19700101]
(0010,0040) CS  [O]
(0020,000d) UI  [{study_uid}]
(0032,1060) LO  [XR CHEST PA]
(0040,1001) SH  [RP-{accession}]
(0040,0100) SQ
(fffe,e000) -
(0008,0060) CS  [DX]
(0040,0001) AE  [{station_ae}]
(0040,0002) DA  [{today}]
(0040,0003) TM  [120000]
(0040,0007) LO  [XR CHEST PA]
(0040,0009) SH  [SPS-{accession}]
(fffe,e00d) -
(fffe,e0dd) -
"""


@pytest.fixture
def dx_worklist_item() -> Callable[..., str]:
    """``dx_worklist_item(accession, patient, patient_id, study_uid, station_ae=AE)``."""
    return _dx_worklist_item

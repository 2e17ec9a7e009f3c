"""A gateway that no input can jam (issue 11, section 3), against dcmtk storescp and Orthanc.

Each case ends in a visible, correct state: every valid instance delivered exactly once with
its pixel values, the bad one refused at ``panelgate send`` or failed with its reason, and
nothing left in flight. No timed assertions: delivery rounds run until nothing is due.
"""

from __future__ import annotations

import hashlib
import io
import logging
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from panelgate.acquisition.cli import main
from panelgate.gateway.outbox import DestinationWorker, Outbox, RetryPolicy, State
from panelgate.gateway.pacs import Destination

FAST = RetryPolicy(initial_s=0.01, max_s=0.05, multiplier=2.0, max_attempts=3)


def pixel_hash(ds: pydicom.Dataset) -> str:
    """SHA-256 of the decoded pixel values (any transfer syntax, any byte order)."""
    return hashlib.sha256(ds.pixel_array.astype("<u2").tobytes()).hexdigest()


def write_config(tmp_path: Path, destinations: dict[str, tuple[int, str]]) -> Path:
    """An agent configuration with one ``[destinations.NAME]`` per (port, AE title)."""
    sections = "".join(
        f'\n[destinations.{name}]\nport = {port}\ncalled_ae = "{ae}"\nconnect_s = 2\n'
        for name, (port, ae) in destinations.items()
    )
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[dicom]\ncalling_ae = "AGENT"\n\n[outbox]\ndirectory = "{tmp_path / "outbox"}"\n'
        f"reserve_mb = 1\n{sections}"
    )
    return path


def awkward_folder(
    folder: Path, dx: Callable[..., pydicom.Dataset], dcmconv: str
) -> tuple[dict[str, str], Path]:
    """Three good DX files, one in Explicit VR Big Endian, one truncated.

    Returns the pixel hash of every valid instance by SOP Instance UID, and the truncated file.
    """
    folder.mkdir()
    hashes = {}
    for seed in range(4):
        ds = dx(seed + 40)
        hashes[str(ds.SOPInstanceUID)] = pixel_hash(ds)
        ds.save_as(folder / f"{seed}.dcm", enforce_file_format=True)
    big = folder / "big-endian.dcm"
    subprocess.run([dcmconv, "+tb", str(folder / "3.dcm"), str(big)], check=True, timeout=60)
    (folder / "3.dcm").unlink()
    assert pydicom.dcmread(big).file_meta.TransferSyntaxUID == ExplicitVRBigEndian
    truncated = folder / "truncated.dcm"
    good = dx(99)
    buffer = io.BytesIO()
    good.save_as(buffer, enforce_file_format=True)
    truncated.write_bytes(buffer.getvalue()[:-100])
    return hashes, truncated


def drain(worker: DestinationWorker, rounds: int = 200) -> None:
    """Run delivery rounds until nothing is pending or in flight."""
    for _ in range(rounds):
        worker.run_once()
        counts = worker.outbox.counts()[worker.name]
        if counts["pending"] == counts["inflight"] == 0:
            return
        worker._wake.wait(0.02)
    raise AssertionError(f"still not delivered: {worker.outbox.counts()}")


def test_storescp_taking_implicit_vr_only_gets_every_valid_instance_once_with_its_pixels(
    tmp_path: Path,
    start_storescp: Callable[..., Any],
    require_peer: Callable[[str], str],
    dx: Callable[..., pydicom.Dataset],
    dciodvfy: Callable[[Path], tuple[list[str], list[str]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    storescp = start_storescp("+xi")  # accepts Implicit VR Little Endian only
    hashes, truncated = awkward_folder(tmp_path / "in", dx, require_peer("dcmconv"))
    config = write_config(tmp_path, {"scp": (storescp.port, storescp.aet)})

    assert main(["send", str(tmp_path / "in"), "--to", "scp", "--config", str(config)]) == 1
    out, err = capsys.readouterr()
    assert "4 instance(s) queued for scp" in out
    (line,) = err.splitlines()
    assert str(truncated) in line and "truncated" in line

    outbox = Outbox(tmp_path / "outbox", ["scp"])
    destination = Destination("127.0.0.1", storescp.port, called_ae=storescp.aet)
    worker = DestinationWorker(outbox, "scp", destination, FAST)
    drain(worker)
    worker.stop()
    assert [r.state for r in outbox.records()] == [State.SENT] * 4, storescp.log()
    received = [pydicom.dcmread(p) for p in storescp.received()]
    assert sorted(str(ds.SOPInstanceUID) for ds in received) == sorted(hashes)  # each once
    for ds in received:
        assert ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
        assert pixel_hash(ds) == hashes[str(ds.SOPInstanceUID)]
    for path in storescp.received():
        errors, _warnings = dciodvfy(path)
        assert errors == [], f"{path.name}: {errors}"


def test_orthanc_gets_every_valid_instance_once_with_its_pixels(
    tmp_path: Path,
    orthanc: Any,
    require_peer: Callable[[str], str],
    dx: Callable[..., pydicom.Dataset],
    capsys: pytest.CaptureFixture[str],
) -> None:
    hashes, truncated = awkward_folder(tmp_path / "in", dx, require_peer("dcmconv"))
    config = write_config(tmp_path, {"orthanc": (orthanc.dicom_port, orthanc.aet)})
    assert main(["send", str(tmp_path / "in"), "--to", "orthanc", "--config", str(config)]) == 1
    assert str(truncated) in capsys.readouterr().err

    outbox = Outbox(tmp_path / "outbox", ["orthanc"])
    destination = Destination("127.0.0.1", orthanc.dicom_port, called_ae=orthanc.aet)
    worker = DestinationWorker(outbox, "orthanc", destination, FAST)
    drain(worker)
    worker.stop()
    assert [r.state for r in outbox.records()] == [State.SENT] * 4, orthanc.log()
    stored = {}
    for instance in orthanc.rest("/instances"):
        ds = pydicom.dcmread(io.BytesIO(orthanc.rest(f"/instances/{instance}/file", raw=True)))
        stored[str(ds.SOPInstanceUID)] = pixel_hash(ds)
    assert stored == hashes


def test_sigkilled_send_is_recovered_for_its_destination_alone(
    tmp_path: Path,
    start_storescp: Callable[..., Any],
    dx: Callable[..., pydicom.Dataset],
) -> None:
    # Two destinations; `send --to a` is killed while it queues. Whatever the moment, the
    # recovery queues nothing for b, and sending again delivers each instance to a once.
    scp_a, scp_b = start_storescp(), start_storescp()
    config = write_config(tmp_path, {"a": (scp_a.port, scp_a.aet), "b": (scp_b.port, scp_b.aet)})
    folder = tmp_path / "in"
    folder.mkdir()
    hashes = {}
    for seed in range(40):
        ds = dx(seed, size=256)
        hashes[str(ds.SOPInstanceUID)] = pixel_hash(ds)
        ds.save_as(folder / f"{seed:02d}.dcm", enforce_file_format=True)
    objects, intents = tmp_path / "outbox" / "objects", tmp_path / "outbox" / "intents"
    exe = Path(sys.executable).parent / "panelgate"
    for kill_after in (1, 7, 13, 19, 25):
        proc = subprocess.Popen(
            [str(exe), "send", str(folder), "--to", "a", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # Spin until the process is inside a queuing (its intent is on disk: the file
            # and its record may or may not be), past the first kill_after files.
            while proc.poll() is None and not (
                len(list(objects.glob("*.dcm"))) >= kill_after and any(intents.glob("*.json"))
            ):
                pass
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        outbox = Outbox(tmp_path / "outbox", ["a", "b"])
        counts = outbox.recover()
        assert outbox.records("b") == [], "queued for a destination nobody asked for"
        assert counts["orphans"] == 0
        assert {r.state for r in outbox.records("a")} <= {State.PENDING}

    assert main(["send", str(folder), "--to", "a", "--config", str(config)]) == 0
    outbox = Outbox(tmp_path / "outbox", ["a", "b"])
    worker = DestinationWorker(outbox, "a", Destination("127.0.0.1", scp_a.port), FAST)
    drain(worker)
    worker.stop()
    assert outbox.records("b") == [] and scp_b.received() == []
    received = [pydicom.dcmread(p) for p in scp_a.received()]
    assert sorted(str(ds.SOPInstanceUID) for ds in received) == sorted(hashes)
    assert all(pixel_hash(ds) == hashes[str(ds.SOPInstanceUID)] for ds in received)


def test_poison_instance_is_dead_lettered_while_the_others_reach_orthanc(
    tmp_path: Path,
    orthanc: Any,
    dx: Callable[..., pydicom.Dataset],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Orthanc cannot be told to abort on one instance: the poison is an instance in a SOP
    # class Orthanc refuses (UnknownSopClassAccepted false), between valid ones.
    outbox = Outbox(tmp_path / "spool", ["orthanc"])
    hashes = {}
    for seed in range(3):
        ds = dx(seed + 70)
        hashes[str(ds.SOPInstanceUID)] = pixel_hash(ds)
        outbox.enqueue_dataset(ds)
        if seed == 0:
            poison = dx(77)
            poison.SOPClassUID = poison.file_meta.MediaStorageSOPClassUID = "1.2.3.4.5.6.7"
            outbox.enqueue_dataset(poison)
    destination = Destination("127.0.0.1", orthanc.dicom_port, called_ae=orthanc.aet)
    worker = DestinationWorker(outbox, "orthanc", destination, FAST)
    with caplog.at_level(logging.WARNING, logger="panelgate"):
        drain(worker)
    worker.stop()
    by_uid = {r.sop_instance_uid: r for r in outbox.records()}
    failed = by_uid.pop(str(poison.SOPInstanceUID))
    assert failed.state is State.FAILED and "no presentation context" in failed.reason
    assert {r.state for r in by_uid.values()} == {State.SENT}
    stored = {}
    for instance in orthanc.rest("/instances"):
        ds = pydicom.dcmread(io.BytesIO(orthanc.rest(f"/instances/{instance}/file", raw=True)))
        stored[str(ds.SOPInstanceUID)] = pixel_hash(ds)
    assert stored == hashes
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(str(poison.SOPInstanceUID) in w and "orthanc" in w for w in warnings)
    assert not any("Doe" in w or "PID-SECRET" in w for w in warnings)

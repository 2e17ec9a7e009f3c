"""End to end into Orthanc: ``panelgate demo --pacs`` stores a DX instance Orthanc keeps intact."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom

from panelgate.gateway.pacs import Destination, Outcome, store_files


def _pixel_sha256(ds: pydicom.Dataset) -> str:
    return hashlib.sha256(ds.PixelData).hexdigest()


def _only_instance(orthanc: Any) -> str:
    ids = orthanc.rest("/instances")
    assert len(ids) == 1, f"Orthanc holds {len(ids)} instances, expected 1: {ids}"
    return str(ids[0])


def test_demo_stores_dx_into_orthanc_intact(orthanc: Any, run_demo_cli: Callable[..., Any]) -> None:
    run = run_demo_cli(pacs=("127.0.0.1", orthanc.dicom_port), called_ae=orthanc.aet)
    assert run.rc == 0, f"panelgate demo failed; Orthanc log:\n{orthanc.log()}"
    spool = pydicom.dcmread(run.spool_file)

    instance = _only_instance(orthanc)
    tags = orthanc.rest(f"/instances/{instance}/simplified-tags")
    assert tags["SOPInstanceUID"] == spool.SOPInstanceUID
    assert tags["SOPClassUID"] == spool.SOPClassUID
    assert tags["Modality"] == "DX"
    lookup = orthanc.rest("/tools/lookup", method="POST", data=spool.SOPInstanceUID.encode())
    assert [(m["Type"], m["ID"]) for m in lookup] == [("Instance", instance)]

    stored = pydicom.dcmread(io.BytesIO(orthanc.rest(f"/instances/{instance}/file", raw=True)))
    assert stored.SOPInstanceUID == spool.SOPInstanceUID
    assert (stored.Rows, stored.Columns, stored.BitsAllocated) == (
        spool.Rows,
        spool.Columns,
        spool.BitsAllocated,
    )
    assert _pixel_sha256(stored) == _pixel_sha256(spool)


def test_demo_spool_file_passes_dciodvfy(
    orthanc: Any,
    run_demo_cli: Callable[..., Any],
    dciodvfy: Callable[[Path], tuple[list[str], list[str]]],
    tmp_path: Path,
) -> None:
    run = run_demo_cli(pacs=("127.0.0.1", orthanc.dicom_port), called_ae=orthanc.aet)
    assert run.rc == 0, f"panelgate demo failed; Orthanc log:\n{orthanc.log()}"
    errors, _warnings = dciodvfy(run.spool_file)
    assert errors == [], f"dciodvfy on the spool file {run.spool_file}:\n" + "\n".join(errors)

    # What Orthanc hands back is still a valid DX instance.
    stored = tmp_path / "from-orthanc.dcm"
    stored.write_bytes(orthanc.rest(f"/instances/{_only_instance(orthanc)}/file", raw=True))
    errors, _warnings = dciodvfy(stored)
    assert errors == [], "dciodvfy on the instance from Orthanc:\n" + "\n".join(errors)


def test_storing_same_file_twice_keeps_one_instance(
    orthanc: Any, run_demo_cli: Callable[..., Any]
) -> None:
    run = run_demo_cli()  # into the embedded PACS: Orthanc has seen nothing yet
    assert run.rc == 0
    assert orthanc.rest("/statistics")["CountInstances"] == 0

    destination = Destination(
        "127.0.0.1", orthanc.dicom_port, called_ae=orthanc.aet, calling_ae="PGTEST"
    )
    first = store_files([run.spool_file], destination)
    second = store_files([run.spool_file], destination)

    for results in (first, second):
        assert [r.outcome for r in results] == [Outcome.SUCCESS], (
            f"{[r.status for r in results]}; Orthanc log:\n{orthanc.log()}"
        )
    assert orthanc.rest("/statistics")["CountInstances"] == 1
    uid = pydicom.dcmread(run.spool_file, stop_before_pixels=True).SOPInstanceUID
    instance = _only_instance(orthanc)
    assert orthanc.rest(f"/instances/{instance}/simplified-tags")["SOPInstanceUID"] == uid

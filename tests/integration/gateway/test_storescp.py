"""The outbox delivering to dcmtk storescp: uncompressed as is, compressed decompressed by us."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from panelgate.gateway.dicom import compress_lossless
from panelgate.gateway.outbox import DestinationWorker, Outbox, RetryPolicy, State
from panelgate.gateway.pacs import Destination


def test_storescp_receives_every_instance_bit_exact_even_when_spooled_compressed(
    tmp_path: Path, storescp: Any, dx: Callable[..., pydicom.Dataset]
) -> None:
    # storescp's default accepts only uncompressed syntaxes: the JPEG-LS and RLE files are
    # decompressed by the agent, the plain one is streamed as it is.
    outbox = Outbox(tmp_path / "spool", ["dcmtk"])
    pixels = {}
    for seed, method in enumerate(["", "jpeg-ls", "rle"]):
        ds = dx(seed)
        pixels[str(ds.SOPInstanceUID)] = ds.pixel_array.copy()
        outbox.enqueue_dataset(compress_lossless(ds, method))
    destination = Destination(
        "127.0.0.1", storescp.port, called_ae=storescp.aet, calling_ae="AGENT"
    )
    worker = DestinationWorker(outbox, "dcmtk", destination, RetryPolicy())
    worker.run_once()
    worker.stop()
    assert [r.state for r in outbox.records()] == [State.SENT] * 3, storescp.log()
    received = {}
    for path in storescp.received():
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
        received[str(ds.SOPInstanceUID)] = ds.pixel_array
    assert received.keys() == pixels.keys()
    for uid, original in pixels.items():
        assert np.array_equal(received[uid], original)

"""``[dicom] send_for_processing``: the workflow queues the For Processing instance too.

A simulated panel and generator in one room expose a chest; the workflow (with an outbox)
queues the For Presentation instance and, when the option is on, the For Processing one
(PS3.3 A.26). Both reach a real dcmtk storescp, both are dciodvfy-clean, the For
Processing pixels are the corrected linear image the workflow made (read from the
pipeline's own ``correct``), and both carry the same study, EI and DI. Off (the default)
only the For Presentation instance is queued, and an image written for review (no outbox,
the station without ``auto_accept``) is written alone.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from panelgate.acquisition.config import Config, DetectorConfig, load_config
from panelgate.acquisition.dispatch import deliver_now
from panelgate.acquisition.exposure import ExposureRequest
from panelgate.acquisition.pipeline import Corrected, Pipeline
from panelgate.acquisition.workflow import (
    CalibrationHolder,
    ExposureWorkflow,
    WorkflowTimeouts,
    quick_calibration,
)
from panelgate.drivers.generator import GeneratorClient
from panelgate.gateway.dicom import StudyContext
from panelgate.gateway.outbox import Outbox
from panelgate.gateway.pacs import Destination
from panelgate.simulators import PanelSpec, Room, SimulatedDetector
from panelgate.simulators.generator import GeneratorSpec, SimulatedGenerator
from panelgate.simulators.phantoms import Placement

SIZE = 192


def _expose(
    tmp_path: Path, send_for_processing: bool, *, with_outbox: bool = True
) -> tuple[Outbox, str, list[Corrected]]:
    """One chest exposure through the workflow into an outbox; the corrected images seen."""
    room = Room(tmp_path / "room")
    config = Config(detector=DetectorConfig(exposure_s=0.01, frame_timeout_s=5.0))
    config = dataclasses.replace(
        config, dicom=dataclasses.replace(config.dicom, send_for_processing=send_for_processing)
    )
    detector = SimulatedDetector(
        PanelSpec(width=SIZE, height=SIZE, serial="SIM-FP"), seed=4, room=room
    )
    corrected: list[Corrected] = []
    with SimulatedGenerator(GeneratorSpec(prep_s=0.05, time_scale=0.1), seed=2, room=room) as gen:
        with detector, GeneratorClient(gen.device_path, timeout_s=0.5) as client:
            pipeline = Pipeline(detector, config, beam=detector.irradiate)
            pipeline.configure(SIZE, SIZE)
            holder = CalibrationHolder(quick_calibration(pipeline, frames=2))
            correct = pipeline.correct

            def seen(*args: Any) -> Corrected:  # the pipeline's own correction, recorded
                image = correct(*args)
                corrected.append(image)
                return image

            pipeline.correct = seen  # type: ignore[method-assign]
            outbox = Outbox(tmp_path / "outbox", ["pacs"])
            workflow = ExposureWorkflow(
                pipeline, client, holder, tmp_path / "spool",
                outbox=outbox if with_outbox else None,
                timeouts=WorkflowTimeouts(prep_s=1.0, exposure_margin_s=1.0, readout_s=2.0),
            )  # fmt: skip
            study = StudyContext(patient_name="Doe^Jane", patient_id="P-FP")
            with room.placed(Placement("chest")):
                result = workflow.run(ExposureRequest(110.0, 2.0, study, "CHEST PA"))
    return outbox, result.sop_instance_uid, corrected


def _wait_listening(port: int, timeout_s: float = 60.0) -> None:
    """Wait until storescp accepts connections (it binds after it starts)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_for_processing_is_queued_and_stored_when_asked(
    tmp_path: Path,
    require_peer: Callable[[str], str],
    get_free_port: Callable[[], int],
    dciodvfy: Callable[[Path], tuple[list[str], list[str]]],
) -> None:
    storescp = require_peer("storescp")
    outbox, uid, corrected = _expose(tmp_path, send_for_processing=True)
    (image,) = corrected
    port = get_free_port()
    received = tmp_path / "received"
    received.mkdir()
    scp = subprocess.Popen(
        [storescp, "-od", str(received), "-aet", "PACS", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_listening(port)
        (delivery,) = deliver_now(
            outbox, {"pacs": Destination("127.0.0.1", port, called_ae="PACS")}, uid
        )
        assert delivery.delivered, delivery.reason
    finally:
        scp.terminate()
        scp.wait(timeout=30)
    files = sorted(received.iterdir())
    by_intent = {pydicom.dcmread(f).PresentationIntentType: f for f in files}
    assert len(files) == 2 and set(by_intent) == {"FOR PRESENTATION", "FOR PROCESSING"}
    for path in files:
        errors, _ = dciodvfy(path)
        assert errors == [], (path.name, errors)
    shown = pydicom.dcmread(by_intent["FOR PRESENTATION"])
    linear = pydicom.dcmread(by_intent["FOR PROCESSING"])
    assert str(shown.SOPInstanceUID) == uid
    assert linear.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.1.1"
    np.testing.assert_array_equal(linear.pixel_array, image.pixels)
    assert not np.array_equal(shown.pixel_array, image.pixels), "processed, not linear"
    assert linear.StudyInstanceUID == shown.StudyInstanceUID
    assert linear.SeriesInstanceUID != shown.SeriesInstanceUID, "one intent per series"
    for keyword in ("ExposureIndex", "TargetExposureIndex", "DeviationIndex"):
        assert linear[keyword].value == shown[keyword].value


def test_by_default_only_for_presentation_is_queued(tmp_path: Path) -> None:
    outbox, uid, _ = _expose(tmp_path, send_for_processing=False)
    queued = [r.sop_instance_uid for r in outbox.records("pacs")]
    assert queued == [uid]


def test_an_image_held_for_review_is_written_alone(tmp_path: Path) -> None:
    """Without an outbox (the station's review) only the For Presentation file is written."""
    _, uid, _ = _expose(tmp_path, send_for_processing=True, with_outbox=False)
    assert [p.name for p in (tmp_path / "spool").glob("*.dcm")] == [f"{uid}.dcm"]


@pytest.mark.parametrize("value", [True, False])
def test_the_option_reads_from_the_dicom_section(tmp_path: Path, value: bool) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[dicom]\nsend_for_processing = {str(value).lower()}\n")
    assert load_config(path).dicom.send_for_processing is value

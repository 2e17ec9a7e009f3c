"""``panelgate demo``: the whole path from a simulated exposure to a PACS, in one process.

Start the simulated panel, take darks and floods, calibrate, expose a step-wedge and
line-pair phantom, correct, build the DX instance, queue it in the outbox (as the agent
does: fsynced, idempotent by SOP Instance UID), deliver it once to the embedded PACS (or
a real one), and write a PNG preview. What is not delivered stays queued.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from panelgate.calibration import warm_up
from panelgate.gateway.dicom import StudyContext, Technique
from panelgate.gateway.outbox import Outbox
from panelgate.gateway.pacs import Destination, EmbeddedPacs
from panelgate.simulators import SimulatedDetector, step_wedge_line_pairs

from .config import Config
from .dispatch import Delivery, deliver_now, queue_name
from .pipeline import Pipeline
from .preview import write_preview
from .timing import StageTimer
from .workflow import instance_bytes

__all__ = ["DemoResult", "run_demo"]

_log = logging.getLogger(__name__)

DEMO_AIR_KERMA_UGY = 5.0
"""Open-field air kerma of the phantom exposure: about 2.5 µGy behind the phantom, EI ≈ 250–500."""


@dataclass
class DemoResult:
    """What the demo produced."""

    spool_path: Path
    sop_instance_uid: str
    preview_path: Path
    delivery: Delivery
    destination: str
    pacs_path: Path | None
    timer: StageTimer
    defect_counts: dict[str, int] = field(default_factory=dict)
    exposure_index: str = ""


def run_demo(
    out_dir: Path,
    config: Config,
    destination: Destination | None = None,
    detector: SimulatedDetector | None = None,
) -> DemoResult:
    """Run the demo; see the module docstring.

    Parameters
    ----------
    out_dir : pathlib.Path
        Where the spool copy, the preview and (with the embedded PACS) the stored instance go.
    config : Config
        Validated configuration.
    destination : Destination, optional
        A real PACS; when omitted an embedded PACS is started on 127.0.0.1 writing to ``out_dir``.
    detector : SimulatedDetector, optional
        The panel; a default 3072 × 3072 simulator when omitted.

    Raises
    ------
    OutboxFull
        The outbox's disk cannot hold the image above its reserve (checked before the
        panel is used).
    """
    timer = StageTimer()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    panel = detector or SimulatedDetector()
    pacs: EmbeddedPacs | None = None
    with timer.stage("start-up (numba JIT, PACS)"):
        warm_up()
        if destination is None:
            pacs = EmbeddedPacs(out_dir, ae_title="PANELGATE-PACS").start()
            destination = Destination(
                "127.0.0.1", pacs.port, called_ae=pacs.ae_title, calling_ae=config.dicom.calling_ae
            )
    name = "embedded-pacs" if pacs is not None else queue_name(destination)
    outbox = Outbox(out_dir / "outbox", [name], reserve_bytes=config.outbox.reserve_bytes)
    try:
        outbox.check_space(instance_bytes(panel.spec.width, panel.spec.height))
        with panel:
            pipeline = Pipeline(panel, config, beam=panel.irradiate)
            pipeline.configure(panel.spec.width, panel.spec.height)
            cal = config.calibration
            with timer.stage(f"darks ({cal.dark_frames} frames)"):
                darks = pipeline.average(cal.dark_frames, 0.0)
            with timer.stage(f"floods ({cal.flood_frames} frames)"):
                floods = pipeline.average(cal.flood_frames, cal.flood_air_kerma_ugy)
            with timer.stage("calibrate (dark, gain, defect maps)"):
                calibration = pipeline.calibrate(darks, floods, panel.status().temp_c)
            phantom = step_wedge_line_pairs(
                panel.spec.height, panel.spec.width, panel.spec.pixel_pitch_mm
            )
            with timer.stage("expose phantom + readout"):
                frame = pipeline.expose(DEMO_AIR_KERMA_UGY, phantom)
            with timer.stage("correct (numba)"):
                image = pipeline.correct(frame, calibration)
            study = StudyContext(
                patient_name="Demo^Phantom",
                patient_id="PG-DEMO-0001",
                study_description="panelgate demo: step wedge and line pairs",
            )
            technique = Technique(kvp=70.0, exposure_uas=2000.0, exposure_time_ms=20.0)
            with timer.stage("build DX instance"):
                ds, window = pipeline.build(image, study, technique)
            with timer.stage("queue in the outbox (fsync)"):
                outbox.enqueue_dataset(ds, acquired=True)
                spool_path = outbox.object_path(str(ds.SOPInstanceUID))
            with timer.stage("preview PNG"):
                preview = write_preview(image.pixels, window, out_dir / f"{ds.SOPInstanceUID}.png")
            with timer.stage(f"C-STORE to {destination}"):
                (delivery,) = deliver_now(outbox, {name: destination}, str(ds.SOPInstanceUID))
    finally:
        if pacs is not None:
            pacs.stop()
    pacs_path = out_dir / f"{ds.SOPInstanceUID}.dcm" if pacs is not None else None
    ei = ""
    if "ExposureIndex" in ds:
        ei = f"EI {ds.ExposureIndex} (target {ds.TargetExposureIndex}, DI {ds.DeviationIndex})"
    return DemoResult(
        spool_path=spool_path,
        sop_instance_uid=str(ds.SOPInstanceUID),
        preview_path=preview,
        delivery=delivery,
        destination=str(destination),
        pacs_path=pacs_path if delivery.delivered else None,
        timer=timer,
        defect_counts=calibration.defect_counts(),
        exposure_index=ei,
    )

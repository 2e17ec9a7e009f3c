"""``panelgate demo``: the whole path from a simulated exposure to a PACS, in one process.

The demo sets up a simulated X-ray room (:mod:`panelgate.simulators.room`, a temporary
directory ``DIR/room-*`` removed at the end) holding the simulated panel, with a
step-wedge and line-pair phantom in its beam, and an in-process simulated generator
(:class:`~panelgate.simulators.generator.InProcessGenerator`). It calibrates the panel,
then makes the phantom exposure through the same
:class:`~panelgate.acquisition.workflow.ExposureWorkflow` as ``expose`` and the station:
checks before the beam, PREP, READY, EXP (the generator's beam reaches the panel through
the room), readout, correction, DX building, queueing in the outbox (as the agent does:
fsynced, idempotent by SOP Instance UID) and the PNG preview. It then delivers the
instance once to the embedded PACS (or a real one). What is not delivered stays queued.

Darks and floods come from the simulator's calibration source
(:class:`~panelgate.simulators.Irradiable`), not from the generator: a calibration is the
panel's business, the known air kerma of each flood is what the gain map is made from
(through the room it would depend on the generator's kV and output), and the floods
through a generator (``panelgate calibrate --generator``) take one PREP and EXP per frame.
The workflow's trigger mode is the panel's own trigger source (``trigger=`` or ``aed=1``
of its URL): software by default.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

from panelgate import processing
from panelgate.calibration import CalibrationSet, warm_up
from panelgate.drivers.generator import Delivered
from panelgate.gateway.dicom import StudyContext
from panelgate.gateway.outbox import Outbox
from panelgate.gateway.pacs import Destination, EmbeddedPacs
from panelgate.simulators import Room, SimulatedDetector, step_wedge_line_pairs
from panelgate.simulators.generator import InProcessGenerator

from .config import Config
from .dispatch import Delivery, deliver_now, queue_name
from .exposure import CalibrationHolder, ExposureRequest, TriggerMode
from .pipeline import Pipeline
from .preflight import instance_bytes
from .timing import StageTimer
from .workflow import ExposureResult, ExposureState, ExposureWorkflow, StateChange

__all__ = ["DEMO_KV", "DEMO_MAS", "DemoResult", "run_demo"]

_log = logging.getLogger(__name__)

DEMO_KV = 70.0
"""Tube voltage of the phantom exposure, kV."""

DEMO_MAS = 1.6
"""Current-time product of the phantom exposure, mAs: about 19 µGy open field at the
room's 1.8 m (:func:`panelgate.simulators.air_kerma_ugy`); EI about 350 in the relevant
region (IEC 62494-1: behind the step wedge and the bars, the direct beam left out) on the
default 3072 × 3072 panel (target 400: DI about -0.5)."""

_STUDY = StudyContext(
    patient_name="Demo^Phantom",
    patient_id="PG-DEMO-0001",
    study_description="panelgate demo: step wedge and line pairs",
)


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
    delivered: Delivered | None = None
    trigger: str = TriggerMode.SOFTWARE.value
    states: list[str] = field(default_factory=list)


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
        Where the outbox, the preview and (with the embedded PACS) the stored instance go;
        the room is a temporary folder in it while the demo runs.
    config : Config
        Validated configuration.
    destination : Destination, optional
        A real PACS; when omitted an embedded PACS is started on 127.0.0.1 writing to ``out_dir``.
    detector : SimulatedDetector, optional
        The panel, not connected; a default 3072 × 3072 simulator when omitted. It is put
        in the demo's room (:meth:`SimulatedDetector.stand_in`), with its own phantom if
        its URL named one, else the step wedge.

    Raises
    ------
    OutboxFull
        The outbox's disk cannot hold the image above its reserve (checked before the
        panel is used).
    PatientExposed
        The exposure failed after the beam (what it produced is kept; see
        :mod:`~panelgate.acquisition.rescue`).
    """
    timer = StageTimer()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    panel = detector or SimulatedDetector()
    pacs: EmbeddedPacs | None = None
    with timer.stage("start-up (numba JIT, PACS)"):
        warm_up()
        processing.warm_up()
        if destination is None:
            pacs = EmbeddedPacs(out_dir, ae_title="PANELGATE-PACS").start()
            destination = Destination(
                "127.0.0.1", pacs.port, called_ae=pacs.ae_title, calling_ae=config.dicom.calling_ae
            )
    name = "embedded-pacs" if pacs is not None else queue_name(destination)
    room_dir: Path | None = None
    try:
        outbox = Outbox(out_dir / "outbox", [name], reserve_bytes=config.outbox.reserve_bytes)
        outbox.check_space(instance_bytes(panel.spec.width, panel.spec.height))
        room_dir = Path(tempfile.mkdtemp(prefix="room-", dir=out_dir))
        room = Room(room_dir)
        spec = panel.spec
        if panel.intake.phantom is None:
            phantom = step_wedge_line_pairs(spec.height, spec.width, spec.pixel_pitch_mm)
            panel.stand_in(room, phantom)
        else:
            panel.stand_in(room)
        trigger = TriggerMode(panel.trigger_source.value)
        with panel, InProcessGenerator(room=room) as generator:
            pipeline = Pipeline(panel, config, beam=panel.irradiate)
            pipeline.configure(spec.width, spec.height)
            calibration = _calibrate(pipeline, config, timer)
            workflow = ExposureWorkflow(
                pipeline,
                generator,
                CalibrationHolder(calibration),
                out_dir / "spool",
                trigger=trigger,
                outbox=outbox,
            )
            result, states = _expose(workflow, timer)
        uid = result.sop_instance_uid
        preview = _beside(result.preview_path, out_dir)
        _remove_if_empty(workflow.kept_dir)  # nothing had to be kept after the beam
        with timer.stage(f"C-STORE to {destination}"):
            (delivery,) = deliver_now(outbox, {name: destination}, uid)
    finally:
        if pacs is not None:
            pacs.stop()
        if room_dir is not None:
            shutil.rmtree(room_dir, ignore_errors=True)
    pacs_path = out_dir / f"{uid}.dcm" if pacs is not None else None
    return DemoResult(
        spool_path=result.spool_path,
        sop_instance_uid=uid,
        preview_path=preview,
        delivery=delivery,
        destination=str(destination),
        pacs_path=pacs_path if delivery.delivered else None,
        timer=timer,
        defect_counts=calibration.defect_counts(),
        exposure_index=_exposure_index(result.spool_path),
        delivered=result.delivered,
        trigger=trigger.value,
        states=states,
    )


def _calibrate(pipeline: Pipeline, config: Config, timer: StageTimer) -> CalibrationSet:
    """Take darks and floods from the simulator's calibration source; build the maps."""
    cal = config.calibration
    with timer.stage(f"darks ({cal.dark_frames} frames)"):
        darks = pipeline.average(cal.dark_frames, 0.0)
    with timer.stage(f"floods ({cal.flood_frames} frames)"):
        floods = pipeline.average(cal.flood_frames, cal.flood_air_kerma_ugy)
    with timer.stage("calibrate (dark, gain, defect maps)"):
        return pipeline.calibrate(darks, floods, pipeline.detector.status().temp_c)


def _expose(workflow: ExposureWorkflow, timer: StageTimer) -> tuple[ExposureResult, list[str]]:
    """Make the phantom exposure through the workflow; record its phases as stages.

    The phases are the intervals between the workflow's state changes; inside the
    processing phase the workflow reports its stages (correction, presentation, build,
    queue); the rest of it is the preview and the dose log.
    """
    marks: dict[ExposureState, float] = {}
    stages: dict[str, float] = {}

    def mark(change: StateChange) -> None:
        marks[change.new] = change.t_mono_s

    workflow.subscribe(mark)
    workflow.subscribe_stages(stages.__setitem__)
    start = time.monotonic()
    result = workflow.run(ExposureRequest(DEMO_KV, DEMO_MAS, _STUDY, "CHEST PA"))
    s = ExposureState
    timer.add("checks before the beam", marks[s.PREPARING] - start)
    timer.add("PREP -> READY (arm, generator prep)", marks[s.READY] - marks[s.PREPARING])
    timer.add("EXP -> DONE (the beam)", marks[s.READOUT] - marks[s.READY])
    timer.add("readout (frame from the panel)", marks[s.PROCESSING] - marks[s.READOUT])
    timer.add("correct (numba)", stages["correction"])
    timer.add("presentation processing (numba)", stages["presentation"])
    timer.add("build DX instance", stages["build"])
    timer.add("queue in the outbox (fsync)", stages["queue"])
    rest = marks[s.QUEUED] - marks[s.PROCESSING] - sum(stages.values())
    timer.add("preview PNG, dose log", max(0.0, rest))
    return result, [state.value for state in marks]


def _beside(preview: Path, out_dir: Path) -> Path:
    """Move the workflow's preview next to the PACS copy (``DIR/<UID>.png``), as before."""
    target = out_dir / preview.name
    os.replace(preview, target)
    _remove_if_empty(preview.parent)
    return target


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: what earlier runs left there
        folder.rmdir()


def _exposure_index(spool_path: Path) -> str:
    ds = pydicom.dcmread(spool_path, stop_before_pixels=True)
    if "ExposureIndex" not in ds:
        return ""
    return f"EI {ds.ExposureIndex} (target {ds.TargetExposureIndex}, DI {ds.DeviationIndex})"

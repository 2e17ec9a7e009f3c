"""The calibration run of the station's room: darks, floods through its generator, stored.

What ``panelgate calibrate all --detector URL --generator PORT`` does
(:mod:`panelgate.acquisition.commands.calibrate_floods`), on the devices the station has
open: the plan of ``[calibration]`` (``dark_frames``, ``flood_frames``, the levels 4, 8
and 16 µGy, ``pedestal_counts``), each level's technique from the tube-output model
checked against the generator's ranges before anything moves, the operator's
confirmation before the darks (the beam cleared) and before each level, each flood
checked and fired again when the operator says so, the set stored in the calibration
store (``[calibration] directory``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from panelgate.acquisition.calibration_lifecycle import calibration_store
from panelgate.acquisition.calrun import CalibrationPlan, run_calibration
from panelgate.acquisition.config import Config
from panelgate.acquisition.flood_checks import FloodInspector, FloodTolerances
from panelgate.acquisition.flood_technique import flood_techniques
from panelgate.acquisition.generator_floods import GeneratorFloods, Operator, setup_instructions
from panelgate.acquisition.pipeline import Pipeline
from panelgate.acquisition.workflow import ExposureWorkflow, StateChange, WorkflowTimeouts
from panelgate.calibration import CalibrationError
from panelgate.drivers.generator import Generator

__all__ = ["FLOOD_LEVELS_UGY", "run_guided_calibration"]

FLOOD_LEVELS_UGY = (4.0, 8.0, 16.0)
"""Flood levels of the run, µGy at the detector (those of ``panelgate calibrate``)."""


def run_guided_calibration(
    config: Config,
    pipeline: Pipeline,
    generator: Generator,
    operator: Operator,
    spool_dir: Path,
    *,
    on_change: Callable[[StateChange], None],
    on_workflow: Callable[[ExposureWorkflow], None],
) -> str:
    """Measure, build and store a full calibration set; return its id.

    Parameters
    ----------
    config : Config
        ``[calibration]`` (plan, flood technique, checks, store) and ``[detector]``.
    pipeline, generator : Pipeline, Generator
        The room's open panel (software trigger) and generator.
    operator : Operator
        Who confirms (the console).
    spool_dir : pathlib.Path
        The workflow's folder (raw frames are written nowhere).
    on_change : callable
        Each state change of the floods' exposure workflow.
    on_workflow : callable
        Given the floods' workflow before the first flood (so that it can be aborted).

    Raises
    ------
    CalibrationError
        The operator did not confirm, or floods were rejected until the operator gave up.
    TechniqueOutOfRange, PanelgateError
        A level the generator cannot give (before anything moved), or a device failure.
    """
    c = config.calibration
    plan = CalibrationPlan(
        dark_frames=c.dark_frames, flood_frames=c.flood_frames, levels_ugy=FLOOD_LEVELS_UGY,
        pedestal_counts=c.pedestal_counts,
    )  # fmt: skip
    techniques = flood_techniques(
        plan.levels_ugy, c, limits=generator.limits(), ma_now=generator.settings()["ma"]
    )
    info = pipeline.info
    workflow = ExposureWorkflow(
        pipeline, generator, None, spool_dir,
        timeouts=WorkflowTimeouts(readout_s=config.detector.frame_timeout_s),
    )  # fmt: skip
    workflow.subscribe(on_change)
    on_workflow(workflow)
    inspector = FloodInspector(
        FloodTolerances.of(c), full_scale=2**info.bits_stored - 1,
        counts_per_ugy=info.counts_per_ugy,
    )  # fmt: skip
    frames = plan.flood_frames + 1
    operator.tell(f"generator: {generator.identify()}")
    operator.tell(setup_instructions(c.flood_sid_m, techniques, frames))
    if not operator.confirm(
        "Remove everything from the beam (patient, phantom, grid), open the collimator to the "
        f"full field at {c.flood_sid_m:g} m: confirm when done (the darks are taken first)"
    ):
        raise CalibrationError(
            "calibration stopped by the operator before the darks; nothing stored"
        )
    floods = GeneratorFloods(
        pipeline, workflow, {t.level_ugy: t for t in techniques}, inspector, operator,
        frames_per_level=frames,
    )  # fmt: skip
    mode = pipeline.detector.mode
    calset = run_calibration(
        floods, plan, serial=info.serial, mode_key=mode.key, full_scale=2**info.bits_stored - 1
    )
    store = calibration_store(c)
    if store.stored(calset.set_id) is None:
        store.save(calset)
    operator.tell(
        f"calibration set {calset.set_id} stored: {floods.exposures} floods fired "
        f"({floods.rejected} rejected)"
    )
    return calset.set_id

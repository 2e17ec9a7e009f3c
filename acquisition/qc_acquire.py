"""Guided acquisition of a QC run through the generator link (``panelgate qc --detector``).

The order of a run: darks with no beam; flats at each level (the first exposure of a
level discarded: it carries the lag of what came before); a lag sequence (one more flood
at the highest level, then dark frames read after it); then the edge, exposed at the
middle level. The edge device is placed by the operator (asked to confirm), or, when the
panel stands in a simulated X-ray room (``--room DIR``, or the ``room=`` of a ``sim://``
or ``usb://sim`` URL), by placing the slanted tungsten edge in that room for those
exposures (:meth:`~panelgate.simulators.Room.placed`: every simulated panel of the room,
GigE included, renders it). Each exposure is one exposure of the workflow
(:meth:`~panelgate.acquisition.workflow.ExposureWorkflow.run_raw`), at the technique of
its air kerma from the tube-output model (:mod:`.flood_technique`), as for calibration
floods. The kerma recorded is that nominal value.
"""

from __future__ import annotations

import argparse
import math
import urllib.parse
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from panelgate.drivers import Detector, ReadoutMode, ReportsTriggerSource, TriggerSource
from panelgate.drivers.generator import Generator
from panelgate.processing.quality.nnps import REGION_FRACTION, ROI_PX
from panelgate.simulators import Room
from panelgate.simulators.phantoms import Placement

from .config import Config
from .detectors import open_detector
from .errors import UsageError
from .flood_technique import FloodTechnique, flood_techniques
from .generator_floods import Operator
from .pipeline import Pipeline
from .workflow import ExposureWorkflow, WorkflowAborted, WorkflowTimeouts

__all__ = ["QcPlan", "QcRecording", "acquire", "simulated_room"]

_Frames = npt.NDArray[np.uint16]


@dataclass(frozen=True)
class QcPlan:
    """How many frames a guided QC run takes, and at which air kerma (µGy)."""

    levels_ugy: tuple[float, ...] = (2.5, 5.0, 10.0)
    dark_frames: int = 8
    flat_frames: int = 4
    edge_frames: int = 2
    lag_frames: int = 3


@dataclass
class QcRecording:
    """What a guided run recorded, raw (uint16 stacks)."""

    darks: _Frames
    flats: dict[float, _Frames]
    edge: _Frames | None
    lag: _Frames
    serial: str
    model: str
    pixel_pitch_mm: float
    mode_key: str
    exposures: int


def simulated_room(args: argparse.Namespace) -> Room | None:
    """Return the simulated room the panel stands in (``--room``, else its URL's ``room=``)."""
    if args.room is not None:
        return Room(args.room)
    parts = urllib.parse.urlsplit(args.detector)
    simulated = parts.scheme == "sim" or (parts.scheme == "usb" and parts.netloc == "sim")
    rooms = urllib.parse.parse_qs(parts.query).get("room") if simulated else None
    return Room(rooms[-1]) if rooms else None


class _Session:
    """One opened panel: its pipeline and the workflow that fires through the generator."""

    def __init__(
        self, detector: Detector, generator: Generator, config: Config, spool_dir: Path
    ) -> None:
        info = detector.info
        if not (info.sensor_width_px and info.sensor_height_px):
            raise UsageError(f"{info.model} {info.serial} does not report its sensor size")
        if isinstance(detector, ReportsTriggerSource) and detector.trigger_source not in (
            None,
            TriggerSource.SOFTWARE,
        ):
            raise UsageError(
                "qc reads darks with no beam and triggers each readout itself: the panel's "
                f"trigger source is {detector.trigger_source.value}; set it to software"
            )
        self.pipeline = Pipeline(detector, config, beam=None)
        self.pipeline.configure(info.sensor_width_px, info.sensor_height_px)
        self.workflow = ExposureWorkflow(
            self.pipeline, generator, None, spool_dir,
            timeouts=WorkflowTimeouts(readout_s=config.detector.frame_timeout_s),
        )  # fmt: skip
        self.fired = 0

    def dark(self) -> _Frames:
        return self.pipeline.expose(0.0).pixels

    def fire(self, technique: FloodTechnique) -> _Frames:
        self.fired += 1
        raw = self.workflow.run_raw(technique.kv, technique.mas, technique.ma)
        return raw.frame.pixels


def acquire(
    args: argparse.Namespace,
    config: Config,
    plan: QcPlan,
    *,
    operator: Operator,
    generator: Generator,
    spool_dir: Path,
) -> QcRecording:
    """Take a QC run's frames (see the module docstring).

    Raises
    ------
    UsageError, TechniqueOutOfRange
        Refused before the first exposure (a level the generator cannot give, a trigger
        source that is not software, a step the operator did not confirm).
    PanelgateError
        A device failed during the run.
    """
    techniques = flood_techniques(
        plan.levels_ugy, config.calibration, limits=generator.limits(),
        ma_now=generator.settings()["ma"],
    )  # fmt: skip
    by_level = {t.level_ugy: t for t in techniques}
    middle = by_level[sorted(by_level)[len(by_level) // 2]]
    with ExitStack() as stack:
        detector = stack.enter_context(open_detector(args.detector))
        run = _Session(detector, generator, config, spool_dir)
        _check_size(run.pipeline.detector.mode)
        operator.tell(
            "QC: remove every object from the beam, no grid, collimator open to the full field, "
            f"SID {config.calibration.flood_sid_m:g} m; levels: "
            + "; ".join(str(t) for t in techniques)
        )
        info = run.pipeline.info
        darks = np.stack([run.dark() for _ in range(plan.dark_frames)])
        flats = {}
        for level, technique in sorted(by_level.items()):
            _confirm(operator, f"Fire {plan.flat_frames + 1} flat exposure(s) at {technique}?")
            run.fire(technique)  # discarded: it carries the lag of what came before
            flats[level] = np.stack([run.fire(technique) for _ in range(plan.flat_frames)])
        highest = by_level[max(by_level)]
        _confirm(operator, f"Fire the lag exposure at {highest}, then read darks after it?")
        lag = np.stack([run.fire(highest), *(run.dark() for _ in range(plan.lag_frames))])
        edge = _edge(run, simulated_room(args), plan, operator, middle)
        fired = run.fired
    return QcRecording(
        darks=darks, flats=flats, edge=edge, lag=lag, serial=info.serial, model=info.model,
        pixel_pitch_mm=info.pixel_pitch_mm or float("nan"), mode_key=run.pipeline.detector.mode.key,
        exposures=fired,
    )  # fmt: skip


def _check_size(mode: ReadoutMode) -> None:
    """Refuse, before the first exposure, a frame too small for the NNPS's ROIs."""
    side = int(min(mode.width, mode.height) * REGION_FRACTION)
    if side < ROI_PX:
        need = math.ceil(ROI_PX / REGION_FRACTION)
        raise UsageError(
            f"qc needs frames of at least {need}x{need} px (the noise power spectrum takes "
            f"{ROI_PX}x{ROI_PX} ROIs from the central {REGION_FRACTION:.0%}); the panel reads "
            f"{mode.width}x{mode.height}"
        )


def _edge(
    run: _Session, room: Room | None, plan: QcPlan, operator: Operator, technique: FloodTechnique
) -> _Frames:
    if room is None:
        _confirm(
            operator,
            "Place the edge device (1 mm tungsten) at the centre of the panel, its edge "
            f"tilted 1.5-3° from the columns; fire {plan.edge_frames} exposure(s) at {technique}?",
        )
        return np.stack([run.fire(technique) for _ in range(plan.edge_frames)])
    operator.tell(f"QC: the slanted edge is placed in the simulated room {room.path}")
    with room.placed(Placement(phantom="edge")):
        return np.stack([run.fire(technique) for _ in range(plan.edge_frames)])


def _confirm(operator: Operator, question: str) -> None:
    if not operator.confirm(question):
        raise WorkflowAborted(f"qc stopped by the operator at: {question}")

"""``panelgate calibrate --generator``: the generator that fires a run's floods.

Its options (``--generator``, ``--room``, ``--yes``), its opening (a serial port, or the
simulated generator in this process on a room), the technique of every level checked
against its ranges before the panel is touched, and the ``expose`` of the run
(:class:`~panelgate.acquisition.generator_floods.GeneratorFloods`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from panelgate.acquisition.calrun import CalibrationPlan
from panelgate.acquisition.config import Config
from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.flood_checks import FloodInspector, FloodTolerances
from panelgate.acquisition.flood_technique import flood_techniques
from panelgate.acquisition.generator_floods import GeneratorFloods, Operator, setup_instructions
from panelgate.acquisition.pipeline import Pipeline
from panelgate.acquisition.workflow import ExposureWorkflow, WorkflowTimeouts
from panelgate.drivers import Frame, ReportsTriggerSource, TriggerSource
from panelgate.drivers.generator import Generator, GeneratorClient
from panelgate.simulators import Room
from panelgate.simulators.generator import InProcessGenerator

__all__ = ["FloodSource", "add_generator_options", "open_generator"]


def add_generator_options(parser: Any) -> None:
    """Add ``--generator``, ``--room`` and ``--yes`` to the ``calibrate`` parser."""
    gen = parser.add_argument_group("floods through the X-ray generator (any panel)")
    gen.add_argument(
        "--generator", metavar="PORT",
        help="fire the floods through this generator: its serial port, or 'sim' (a simulated "
        "generator in this process, irradiating the panels of --room); technique per level "
        "from [calibration] flood_kv, flood_sid_m and tube_output_*",
    )  # fmt: skip
    gen.add_argument(
        "--room", type=Path, metavar="DIR",
        help="with --generator sim: the simulated X-ray room (the panel's room=DIR)",
    )  # fmt: skip
    gen.add_argument(
        "--yes", action="store_true",
        help="fire every level without asking (test rigs, CI); a rejected flood is fired "
        "again up to [calibration] flood_retries times, then the run fails",
    )  # fmt: skip


class FloodSource:
    """The generator of a calibration run, opened and its techniques checked before the panel.

    Parameters
    ----------
    args : argparse.Namespace
        ``--generator``, ``--room``.
    config : Config
        ``[calibration]``: the flood technique, tolerances and retries.
    plan : CalibrationPlan
        Levels and frames of the run.
    operator : Operator
        Who confirms the levels.
    stack : ExitStack
        Closes the generator when the run ends.

    Raises
    ------
    TechniqueOutOfRange
        A level the generator cannot give (nothing moved).
    UsageError
        ``--generator sim`` without ``--room``.
    """

    def __init__(
        self,
        args: argparse.Namespace,
        config: Config,
        plan: CalibrationPlan,
        operator: Operator,
        stack: ExitStack,
    ) -> None:
        self.config = config
        self.plan = plan
        self.operator = operator
        self.generator, self.port = open_generator(args, config, stack)
        self.techniques = flood_techniques(
            plan.levels_ugy, config.calibration, limits=self.generator.limits(),
            ma_now=self.generator.settings()["ma"],
        )  # fmt: skip
        self.floods: GeneratorFloods | None = None

    def expose(self, pipeline: Pipeline, spool_dir: Path) -> Callable[[float], Frame]:
        """Return the run's ``expose``: darks with no beam, floods through the generator.

        ``spool_dir`` is the workflow's (raw frames are written nowhere).

        Raises
        ------
        UsageError
            The panel's trigger source is not software (its darks would never come).
        """
        info = pipeline.info
        source = pipeline.detector
        if isinstance(source, ReportsTriggerSource) and source.trigger_source not in (
            None,
            TriggerSource.SOFTWARE,
        ):
            raise UsageError(
                "calibrate --generator reads the darks with no beam and triggers each flood's "
                f"readout itself: the panel's trigger source is {source.trigger_source.value}; "
                "set it to software for the calibration (trigger=software of a simulated "
                "panel's URL)"
            )
        workflow = ExposureWorkflow(
            pipeline, self.generator, None, spool_dir,
            timeouts=WorkflowTimeouts(readout_s=pipeline.config.detector.frame_timeout_s),
        )  # fmt: skip
        inspector = FloodInspector(
            FloodTolerances.of(self.config.calibration),
            full_scale=2**info.bits_stored - 1,
            counts_per_ugy=info.counts_per_ugy,
        )
        frames = self.plan.flood_frames + 1
        self.operator.tell(f"generator: {self.generator.identify()} on {self.port}")
        self.operator.tell(
            setup_instructions(self.config.calibration.flood_sid_m, self.techniques, frames)
        )
        self.floods = GeneratorFloods(
            pipeline, workflow, {t.level_ugy: t for t in self.techniques}, inspector,
            self.operator, frames_per_level=frames,
        )  # fmt: skip
        return self.floods

    def report(self) -> str:
        """Return what was fired, for the summary's "measured" line."""
        fired = self.floods.exposures if self.floods is not None else 0
        rejected = self.floods.rejected if self.floods is not None else 0
        kv = self.config.calibration.flood_kv
        return f"; {fired} floods fired at {kv:g} kV through {self.port} ({rejected} rejected)"


def open_generator(
    args: argparse.Namespace, config: Config, stack: ExitStack
) -> tuple[Generator, str]:
    """Open ``--generator``: a serial port, or ``sim`` on ``--room`` at ``flood_sid_m``.

    Raises
    ------
    UsageError
        ``--generator sim`` without ``--room``, or a room that cannot be made.
    """
    if args.generator != "sim":
        return stack.enter_context(GeneratorClient(args.generator)), args.generator
    if args.room is None:
        raise UsageError("--generator sim needs --room DIR: the room of the panel (room=DIR)")
    try:
        room = Room(args.room, sid_m=config.calibration.flood_sid_m)
    except OSError as exc:
        raise UsageError(f"--room {args.room}: {exc.strerror or exc}") from None
    return stack.enter_context(InProcessGenerator(room=room)), f"sim (room {args.room})"

"""Calibration frames of any panel: darks with no beam, floods fired through the generator.

:class:`GeneratorFloods` is the ``expose(air_kerma_ugy)`` of a calibration run
(:mod:`.calrun`) when panelgate drives a generator (``panelgate calibrate --generator``):

- a dark (0 µGy) is read with no beam (arm, trigger, read); the darks taken before the
  first flood are the reference the floods' signal is measured from;
- a flood is one exposure of the workflow (:meth:`~.workflow.ExposureWorkflow.run_raw`:
  the same PREP, READY, EXP, DONE and readout, and the same checks before the beam) at the
  level's technique (:mod:`.flood_technique`), checked before it is accepted
  (:mod:`.flood_checks`).

The operator is told what to do before the first flood (every object out of the beam, the
collimator open to the full field, the SID, no grid) and confirms each level; a rejected
flood is reported in one line and fired again when the operator says so. An unattended run
(``--yes``: test rigs, CI) fires without asking and gives up after ``retries`` rejected
floods of one level (:class:`~panelgate.calibration.CalibrationError`, exit 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TextIO, runtime_checkable

from panelgate.calibration import CalibrationError
from panelgate.drivers import Frame

from .errors import UsageError
from .flood_checks import FloodInspector
from .flood_technique import FloodTechnique
from .pipeline import Pipeline
from .workflow import ExposureWorkflow

__all__ = [
    "GeneratorFloods",
    "Operator",
    "TerminalOperator",
    "UnattendedOperator",
    "operator_for",
    "setup_instructions",
]


@runtime_checkable
class Operator(Protocol):
    """Whoever stands at the generator during a calibration."""

    def tell(self, text: str) -> None:
        """Show ``text``."""
        ...

    def confirm(self, question: str) -> bool:
        """Ask ``question``; True to go on."""
        ...

    def retry(self, reason: str, rejected: int) -> bool:
        """Report a rejected flood (``rejected`` so far at its level); True to fire it again."""
        ...


class TerminalOperator:
    """An operator at a terminal: questions on ``output``, answers (``y``) read from ``answers``.

    Parameters
    ----------
    answers : TextIO
        Where the answers are typed (the terminal's standard input).
    output : TextIO
        Where instructions and questions are shown.
    """

    def __init__(self, answers: TextIO, output: TextIO) -> None:
        self.answers = answers
        self.output = output

    def tell(self, text: str) -> None:
        """Show ``text``."""
        print(text, file=self.output, flush=True)

    def confirm(self, question: str) -> bool:
        """Ask ``question``; only ``y`` or ``yes`` goes on (end of input: no)."""
        print(f"{question} [y/N] ", end="", file=self.output, flush=True)
        return self.answers.readline().strip().lower() in ("y", "yes")

    def retry(self, reason: str, rejected: int) -> bool:
        """Report the rejection and ask whether to fire again."""
        self.tell(f"rejected {reason}")
        return self.confirm("Fire this flood again?")


class UnattendedOperator:
    """``--yes``: every level confirmed, a rejected flood fired again up to ``retries`` times.

    Parameters
    ----------
    output : TextIO
        Where instructions and rejections are shown.
    retries : int
        Rejected floods of one level fired again before giving up.
    """

    def __init__(self, output: TextIO, retries: int) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.output = output
        self.retries = retries

    def tell(self, text: str) -> None:
        """Show ``text``."""
        print(text, file=self.output, flush=True)

    def confirm(self, question: str) -> bool:
        """Say yes (and show the question, for the log)."""
        self.tell(f"{question} yes (--yes)")
        return True

    def retry(self, reason: str, rejected: int) -> bool:
        """Report the rejection; fire again while fewer than ``retries`` came before."""
        self.tell(f"rejected {reason}")
        return rejected <= self.retries


def operator_for(yes: bool, answers: TextIO, output: TextIO, retries: int) -> Operator:
    """Return the operator of a run: unattended with ``--yes``, else the terminal.

    Raises
    ------
    UsageError
        No ``--yes`` and ``answers`` is not a terminal (nobody could confirm; nothing moved).
    """
    if yes:
        return UnattendedOperator(output, retries)
    if not answers.isatty():
        raise UsageError(
            "calibrate --generator asks the operator to confirm each flood level on a "
            "terminal, and there is none: run it on one, or add --yes on a test rig"
        )
    return TerminalOperator(answers, output)


def setup_instructions(sid_m: float, techniques: tuple[FloodTechnique, ...], frames: int) -> str:
    """Return what the operator does before the first flood, and what will be fired."""
    lines = [
        "Before the floods:",
        "  - remove every object from the beam (patient, phantom, table top, cassette tray);",
        "  - remove the anti-scatter grid (no grid: the gain map must not hold its lines);",
        "  - open the collimator to the full field, beyond every edge of the panel;",
        f"  - set the source-to-image distance to {sid_m:g} m, the beam centred on the panel;",
        "  - stay behind the shield: panelgate fires the tube at each level you confirm.",
        f"Levels ({frames} exposures each, the first one discarded):",
        *(f"  {t}" for t in techniques),
    ]
    return "\n".join(lines)


class GeneratorFloods:
    """The ``expose(air_kerma_ugy) -> Frame`` of a calibration run with a generator.

    Parameters
    ----------
    pipeline : Pipeline
        Over the configured panel, without a calibration source (darks have no beam).
    workflow : ExposureWorkflow
        Over the same pipeline and the open generator; fires the floods.
    techniques : mapping of float to FloodTechnique
        The technique of each level, by air kerma in µGy.
    inspector : FloodInspector
        Checks each flood.
    operator : Operator
        Confirms each level and each retry.
    frames_per_level : int
        Exposures of a level (shown in the question).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        workflow: ExposureWorkflow,
        techniques: Mapping[float, FloodTechnique],
        inspector: FloodInspector,
        operator: Operator,
        *,
        frames_per_level: int,
    ) -> None:
        self.pipeline = pipeline
        self.workflow = workflow
        self.techniques = dict(techniques)
        self.inspector = inspector
        self.operator = operator
        self.frames_per_level = frames_per_level
        self.exposures = 0
        """Floods fired so far, rejected ones included."""
        self.rejected = 0
        """Floods rejected so far."""
        self._level: float | None = None

    def __call__(self, air_kerma_ugy: float) -> Frame:
        """Take one frame: a dark with no beam at 0 µGy, else a checked flood.

        Raises
        ------
        CalibrationError
            A level not confirmed, or floods rejected until the operator gave up.
        TechniqueOutOfRange, PanelgateError
            From the workflow (refused before the beam, or a device failure).
        """
        if air_kerma_ugy == 0:
            frame = self.pipeline.expose(0.0)
            if self._level is None:
                self.inspector.add_dark(frame.pixels)
            return frame
        technique = self.techniques[air_kerma_ugy]
        if air_kerma_ugy != self._level:
            self._start_level(technique)
        rejected = 0
        while True:
            raw = self.workflow.run_raw(technique.kv, technique.mas, technique.ma)
            self.exposures += 1
            verdict = self.inspector.check(raw.frame.pixels, air_kerma_ugy)
            if verdict.accepted:
                self.inspector.accept(verdict, air_kerma_ugy)
                return raw.frame
            rejected += 1
            self.rejected += 1
            reason = f"flood at {air_kerma_ugy:g} µGy: {verdict.reason}"
            if not self.operator.retry(reason, rejected):
                raise CalibrationError(
                    f"flood at {air_kerma_ugy:g} µGy rejected {rejected} time(s), the last "
                    f"one {verdict.reason}; nothing stored"
                )

    def _start_level(self, technique: FloodTechnique) -> None:
        question = f"Fire {self.frames_per_level} flood exposure(s) at {technique}?"
        if not self.operator.confirm(question):
            raise CalibrationError(
                f"calibration stopped by the operator before the {technique.level_ugy:g} µGy "
                "floods; nothing stored"
            )
        self._level = technique.level_ugy

"""The station's guided recalibrations: start one, answer its questions, cancel it, show it.

:class:`GuidedRecalibrations` is what ``/api/calibration`` drives (:mod:`.recalibration`
for one run and its operator, :mod:`.guided_calibration` for the run itself). A run holds
the station's exposure lock from its start to its end, so that no exposure is prepared
meanwhile, and the room's devices (:meth:`~.exposures.Room.held_for_calibration`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from panelgate.acquisition.config import Config
from panelgate.acquisition.workflow import ExposureWorkflow, StateChange
from panelgate.drivers import IncompatibleState

from .config import StationConfig
from .exposures import Room
from .guided_calibration import run_guided_calibration
from .recalibration import ConsoleOperator, Publish, Recalibration

__all__ = ["ANSWER_TIMEOUT_S", "GuidedRecalibrations"]

ANSWER_TIMEOUT_S = 900.0
"""Longest wait of a recalibration for the operator's answer (then: no, nothing fires)."""


class GuidedRecalibrations:
    """Start, answer, cancel and describe the station's guided recalibration.

    Parameters
    ----------
    config, station : Config, StationConfig
        The shared sections (``[calibration]``) and ``[station]`` (generator, trigger).
    room : Room
        The devices.
    exposing : threading.Lock
        The station's exposure lock, held by a run from its start to its end.
    spool_dir : pathlib.Path
        The floods' workflow folder (nothing is written there).
    publish : callable
        The station's event bus (``recalibration`` events).
    on_change : callable
        The floods' exposure states (the station shows them as any exposure's).
    stopping : callable
        True once the station is stopping (no run starts then).
    """

    def __init__(
        self,
        config: Config,
        station: StationConfig,
        room: Room,
        exposing: threading.Lock,
        spool_dir: Path,
        *,
        publish: Publish,
        on_change: Callable[[StateChange], None],
        stopping: Callable[[], bool],
    ) -> None:
        self.config, self.station, self.room = config, station, room
        self._exposing = exposing
        self.spool_dir = spool_dir
        self._publish = publish
        self._on_change = on_change
        self._stopping = stopping
        self.last: Recalibration | None = None

    @property
    def running(self) -> bool:
        """True while a run is in progress."""
        return self.last is not None and not self.last.finished.is_set()

    def describe(self) -> dict[str, Any]:
        """Return the calibration in use and the last run (``GET /api/calibration``)."""
        run = self.last
        return {**self.room.status()["calibration"], "run": run.public() if run else None}

    def start(self) -> dict[str, Any]:
        """Start a run; its instructions and questions come as ``recalibration`` events.

        Raises
        ------
        IncompatibleState
            An exposure or a run in progress, the devices not open, no generator link,
            or a trigger mode other than software: nothing moved.
        """
        if not self._exposing.acquire(blocking=False):
            raise IncompatibleState("an exposure or a recalibration is in progress")
        try:
            self._refusal()
            workflows: list[ExposureWorkflow] = []

            def run(operator: ConsoleOperator) -> str:
                with self.room.held_for_calibration() as (pipeline, generator):
                    return run_guided_calibration(
                        self.config, pipeline, generator, operator, self.spool_dir,
                        on_change=self._on_change, on_workflow=workflows.append,
                    )  # fmt: skip

            def abort() -> None:
                for workflow in workflows:
                    workflow.abort()

            operator = ConsoleOperator(self._publish, ANSWER_TIMEOUT_S)
            started = Recalibration(run, operator, self._publish, self._exposing.release, abort)
            self.last = started
            started.start()
        except BaseException:
            self._exposing.release()
            raise
        return started.public()

    def _refusal(self) -> None:
        room, station = self.room, self.station
        if self._stopping():
            raise IncompatibleState("the station is stopping")
        if room.pipeline is None or room.link_lost or room.generator_fault:
            raise IncompatibleState(f"the room is not ready: {room.why_not_ready()}")
        if station.generator == "none":
            raise IncompatibleState(
                "no generator link ([station] generator = none): the station cannot fire the "
                "floods; calibrate with panelgate calibrate --darks/--floods"
            )
        if station.trigger != "software":
            raise IncompatibleState(
                f"the calibration reads darks with no beam: it needs trigger = software, the "
                f"station's is {station.trigger}"
            )

    def answer(self, yes: bool, prompt_id: int | None = None) -> dict[str, Any]:
        """Answer the run's open question.

        Raises
        ------
        IncompatibleState
            No run is waiting for an answer (or not with that ``prompt_id``).
        """
        run = self.last
        if run is None or run.finished.is_set() or not run.operator.answer(yes, prompt_id):
            raise IncompatibleState("no recalibration question is waiting for an answer")
        return run.public()

    def cancel(self) -> dict[str, Any]:
        """Stop the run: nothing more fires, nothing is stored.

        Raises
        ------
        IncompatibleState
            No run is in progress.
        """
        run = self.last
        if run is None or run.finished.is_set():
            raise IncompatibleState("no recalibration is running")
        run.cancel()
        return run.public()

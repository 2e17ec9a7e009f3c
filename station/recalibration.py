"""Guided recalibration from the console: ``panelgate calibrate all --generator`` as steps.

The station runs the same calibration as the command line's ``calibrate all --generator``
(:class:`~panelgate.acquisition.generator_floods.GeneratorFloods` inside
:func:`~panelgate.acquisition.calrun.run_calibration`: darks with no beam, then at each
flood level the floods fired through the room's generator and checked, then a lag dark),
with the operator at the console instead of a terminal. :class:`ConsoleOperator` is that
operator: each instruction is pushed as a ``recalibration`` event, and each question
("Fire 3 flood exposure(s) at ...?", "fire the rejected flood again?") waits for
``POST /api/calibration/confirm`` or ``POST /api/calibration/cancel``. The new set is
stored in the calibration store and used from the next exposure on.

The states of a run (:attr:`Recalibration.state`): ``running``, ``waiting`` (a question
is open), then ``done`` (the set id), ``failed`` (the one-line reason) or ``cancelled``.
While it runs the station takes no exposure.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ConsoleOperator", "Recalibration"]

_log = logging.getLogger(__name__)

Publish = Callable[..., object]
"""``publish(kind, **data)``: an event for the station's event stream."""


class ConsoleOperator:
    """The operator of a calibration run at the console (the ``Operator`` contract).

    Parameters
    ----------
    publish : callable
        Pushes each instruction and question as a ``recalibration`` event.
    answer_timeout_s : float
        Longest wait for an answer; then the question is answered no (nothing fires).
    """

    def __init__(self, publish: Publish, answer_timeout_s: float) -> None:
        self._publish = publish
        self.answer_timeout_s = answer_timeout_s
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self.prompt = ""
        self.prompt_id = 0
        self._answer: bool | None = None
        self.cancelled = False
        self.said: list[str] = []
        """Every instruction and question so far (for ``GET /api/calibration``)."""

    def tell(self, text: str) -> None:
        """Push an instruction."""
        self.said.append(text)
        self._publish("recalibration", state="running", text=text)

    def confirm(self, question: str) -> bool:
        """Push a question; wait for confirm (True) or cancel, or the timeout (False)."""
        with self._cond:
            if self.cancelled:
                return False
            self.prompt, self.prompt_id, self._answer = question, next(self._ids), None
            self.said.append(question)
            self._publish("recalibration", state="waiting", prompt=question,
                          prompt_id=self.prompt_id)  # fmt: skip
            self._cond.wait_for(lambda: self._answer is not None, self.answer_timeout_s)
            answer = bool(self._answer)
            self.prompt, self._answer = "", None
        self._publish("recalibration", state="running", text="confirmed" if answer else "no")
        return answer

    def retry(self, reason: str, rejected: int) -> bool:
        """Report a rejected flood and ask whether to fire it again."""
        return self.confirm(f"{reason} (rejected {rejected} time(s)): fire it again?")

    def answer(self, yes: bool, prompt_id: int | None = None) -> bool:
        """Answer the open question (``prompt_id``: only that one); False when none is open."""
        with self._cond:
            if not self.prompt or (prompt_id is not None and prompt_id != self.prompt_id):
                return False
            self._answer = yes
            self._cond.notify_all()
            return True

    def cancel(self) -> None:
        """Answer no to the open question and to every later one."""
        with self._cond:
            self.cancelled = True
            if self.prompt:
                self._answer = False
            self._cond.notify_all()


class Recalibration:
    """One guided calibration run in a thread of its own (see the module docstring).

    Parameters
    ----------
    run : callable
        ``run(operator) -> set id``: the calibration itself, raising on failure.
    operator : ConsoleOperator
        The console's operator the run asks.
    publish : callable
        Pushes the run's state changes.
    on_end : callable
        Called in the run's thread at its end (releases the station).
    abort : callable
        Aborts the exposure in progress (a flood) when the run is cancelled.
    """

    def __init__(
        self,
        run: Callable[[ConsoleOperator], str],
        operator: ConsoleOperator,
        publish: Publish,
        on_end: Callable[[], None],
        abort: Callable[[], object],
    ) -> None:
        self._run = run
        self.operator = operator
        self._publish = publish
        self._on_end = on_end
        self._abort = abort
        self.state = "running"
        self.set_id = ""
        self.error = ""
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._main, name="recalibration", daemon=True)

    def start(self) -> None:
        """Start the run."""
        self._publish("recalibration", state="running", text="calibration started")
        self._thread.start()

    def cancel(self) -> None:
        """Stop the run: no further question is answered yes, a flood in progress is aborted."""
        self.operator.cancel()
        self._abort()

    def public(self) -> dict[str, Any]:
        """Describe the run for ``GET /api/calibration``."""
        op = self.operator
        state = "waiting" if self.state == "running" and op.prompt else self.state
        return {
            "state": state,
            "prompt": op.prompt,
            "prompt_id": op.prompt_id if op.prompt else None,
            "said": list(op.said),
            "set_id": self.set_id,
            "error": self.error,
        }

    def _main(self) -> None:
        try:
            self.set_id = self._run(self.operator)
            self.state = "done"
        except Exception as exc:  # the run's outcome, reported in one line
            self.error = " ".join(str(exc).split())
            self.state = "cancelled" if self.operator.cancelled else "failed"
            _log.warning("recalibration %s: %s", self.state, self.error)
        finally:
            try:
                self._on_end()
            finally:
                self.finished.set()
                self._publish("recalibration", state=self.state, set_id=self.set_id,
                              error=self.error)  # fmt: skip

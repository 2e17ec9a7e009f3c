"""Start-up read-ahead: the stored set the station will most likely use, read while devices open.

Opening the room is sequential by nature: the calibration set is chosen for the connected
panel's serial number, readout mode and temperature, so it can only be chosen once the
panel answers. Reading and verifying the set's maps (hundreds of megabytes at 3072², each
file's sha256, the content id) does not depend on the panel, so :class:`PrefetchedStore`
starts it, in a thread of its own, before the devices are opened: the newest stored set
whose gain and defect maps are still valid by age is read and verified, as
:meth:`~panelgate.calibration.CalibrationStore.load` verifies every set (it is that
method that reads it).

Nothing is decided ahead: the set is chosen afterwards exactly as without a read-ahead
(:func:`~panelgate.acquisition.calibration_lifecycle.select_calibration` on the connected
panel), and the set read ahead is only handed over when that is the one chosen, for the
same detector and mode; any other choice is read from the store then. A failure while
reading ahead is not reported there: the set is read again, and its failure reported, if it
is the one chosen. The station is not ready before the set is chosen.

The correction kernels are not loaded in parallel: loading them from numba's cache is
Python work that holds the GIL, and beside the simulated panel's model build it slowed the
build more than it saved (measured: ready about 0.15 s later at 3072² on 2 cores).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

from panelgate.calibration import CalibrationSet, CalibrationStore, ValidityRules
from panelgate.drivers import PanelgateError

from .startup import StartupPhases

__all__ = ["PrefetchedStore"]

_log = logging.getLogger(__name__)

_T = TypeVar("_T")


def _in_thread(name: str, fn: Callable[..., _T], *args: object) -> Future[_T]:
    """Run ``fn(*args)`` in a daemon thread; return the future of its result."""
    future: Future[_T] = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to whoever waits for the result
                future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class PrefetchedStore(CalibrationStore):
    """A calibration store whose most likely set is being read ahead (see the module).

    Parameters
    ----------
    root : pathlib.Path
        The store directory.
    rules : ValidityRules
        The validity rules: the set read ahead is the newest whose gain and defect maps
        are valid by age at ``now_utc`` (the panel's temperature is not known yet).
    now_utc : datetime.datetime
        The time ages are judged at.
    startup : StartupPhases, optional
        Records the read-ahead as a phase of the start-up.
    """

    def __init__(
        self,
        root: Path,
        rules: ValidityRules,
        now_utc: dt.datetime,
        startup: StartupPhases | None = None,
    ) -> None:
        super().__init__(root)
        self.ahead_id = ""
        """The id of the set being read ahead (empty: none)."""
        self._ahead: Future[CalibrationSet] | None = None
        self._guard = threading.Lock()
        try:
            candidates = self.sets()
        except (PanelgateError, OSError) as exc:  # select() reports it
            _log.debug("no read-ahead of a calibration set: %s", exc)
            return
        for stored in candidates:
            if not stored.validity(math.nan, now_utc, rules).status.needs_recalibration:
                self.ahead_id = stored.set_id
                load = super().load
                if startup is not None:
                    load = startup.timed("calibration read ahead", load)
                self._ahead = _in_thread("calibration-read-ahead", load, stored.set_id)
                return

    def load(
        self, set_id: str, *, serial: str | None = None, mode_key: str | None = None
    ) -> CalibrationSet:
        """Return the set read ahead when it is ``set_id`` (for ``serial`` and ``mode_key``).

        Otherwise, or when reading it ahead failed, :meth:`CalibrationStore.load` reads
        and verifies the set now (and raises what it raises).
        """
        ahead = self._take(set_id)
        if ahead is not None:
            try:
                calset = ahead.result()
            except Exception as exc:  # reported by the load below, if it fails again
                _log.debug("reading calibration set %s ahead failed: %s", set_id, exc)
            else:
                if serial in (None, calset.serial) and mode_key in (None, calset.mode_key):
                    return calset
        return super().load(set_id, serial=serial, mode_key=mode_key)

    def forget_ahead(self) -> None:
        """Drop the set read ahead when it was not taken (its memory is freed)."""
        self._take(None)

    def _take(self, set_id: str | None) -> Future[CalibrationSet] | None:
        """Hand over the read-ahead once, when it is of ``set_id`` (None: drop it)."""
        with self._guard:
            ahead, self._ahead = self._ahead, None
        return ahead if ahead is not None and set_id == self.ahead_id else None

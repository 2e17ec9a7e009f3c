"""The calibration an exposure uses: chosen from the store, judged, its dark kept fresh.

A calibration set has two lifetimes (:mod:`panelgate.calibration.dark`): the gain and
defect maps hold for weeks but need floods, hence X-rays and a physicist; the dark
(offset) map drifts with the panel's temperature within minutes but needs nothing but the
panel. So, for an exposure:

1. :func:`select_calibration` takes the newest stored set of the panel's serial number and
   readout mode whose gain and defect maps are still valid (age, panel temperature);
   none: the exposure is refused before PREP, naming the command that fixes it
   (:func:`calibrate_command`).
2. :func:`refuse_unusable` (in :func:`~.preflight.check_before_beam`, for every caller)
   refuses a set whose gain and defects expired or were measured at another temperature.
3. :class:`CalibrationHolder` keeps the set in use; when its dark is stale the exposure
   workflow asks it for a fresh one before PREP (:meth:`CalibrationHolder.refresh_dark`):
   darks from the panel, the maps kept in memory for the process and stored as a new set
   derived from the selected one when the store is writable.

The rules come from ``[calibration]`` (:func:`validity_rules`); every time is judged
against an injectable clock (``now_utc``), so tests need not sleep.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import shlex
from collections.abc import Callable
from pathlib import Path

from panelgate.calibration import (
    CalibrationError,
    CalibrationMismatch,
    CalibrationNotFound,
    CalibrationSet,
    CalibrationStore,
    DarkAccumulator,
    Validity,
    ValidityRules,
    ValidityStatus,
)
from panelgate.calibration.dark import DAY_S
from panelgate.drivers import ReadoutMode

from .calrun import default_store_dir
from .config import CalibrationConfig
from .pipeline import Pipeline

__all__ = [
    "CalibrationHolder",
    "Clock",
    "calibrate_command",
    "calibration_store",
    "refuse_unusable",
    "select_calibration",
    "utc_now",
    "validity_rules",
]

_log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
"""Returns the current time, timezone-aware UTC (injected in tests)."""


def utc_now() -> dt.datetime:
    """Return the wall-clock time in UTC (the default :data:`Clock`)."""
    return dt.datetime.now(dt.UTC)


def validity_rules(config: CalibrationConfig) -> ValidityRules:
    """Return the validity rules of a ``[calibration]`` section."""
    return ValidityRules(
        dark_max_age_s=config.dark_max_age_s,
        dark_max_temp_delta_c=config.dark_max_temp_delta_c,
        gain_max_age_s=config.gain_max_age_days * DAY_S,
        gain_max_temp_delta_c=config.gain_max_temp_delta_c,
    )


def calibration_store(config: CalibrationConfig, explicit: Path | None = None) -> CalibrationStore:
    """Open the store: ``explicit`` (``--store``), else ``[calibration] directory``, else default.

    The default is ``$PANELGATE_HOME/calibration`` or ``~/.local/share/panelgate/calibration``
    (:func:`~.calrun.default_store_dir`).
    """
    if explicit is None and config.directory:
        explicit = Path(config.directory)
    return CalibrationStore(default_store_dir(explicit))


def calibrate_command(url: str | None, mode: ReadoutMode, store: Path | None = None) -> str:
    """Return the command that measures a full set for this panel and readout mode.

    Parameters
    ----------
    url : str or None
        The panel's URL (quoted for a POSIX shell); ``URL`` when it is not known.
    mode : ReadoutMode
        The readout mode the set must be for (its integration time is passed on).
    store : pathlib.Path, optional
        The store, when it is not the default one.
    """
    detector = shlex.quote(url) if url else "URL"
    command = f"panelgate calibrate all --detector {detector} --exposure-s {mode.exposure_s:g}"
    return command + (f" --store {shlex.quote(str(store))}" if store is not None else "")


def select_calibration(
    store: CalibrationStore,
    *,
    serial: str,
    mode: ReadoutMode,
    temp_c: float,
    rules: ValidityRules,
    fix: str,
    now_utc: dt.datetime | None = None,
) -> CalibrationSet:
    """Load the newest stored set whose gain and defect maps are valid for the panel now.

    A stale dark does not disqualify a set: :class:`CalibrationHolder` refreshes it.

    Parameters
    ----------
    store : CalibrationStore
        Where the sets are.
    serial : str
        The panel's serial number.
    mode : ReadoutMode
        Its readout mode (binning, gain mode, size, integration time: the key).
    temp_c : float
        The panel's temperature now, in °C.
    rules : ValidityRules
        The validity rules.
    fix : str
        The command that makes a valid set (:func:`calibrate_command`), for the message.
    now_utc : datetime.datetime, optional
        The time to judge ages at; now when omitted.

    Raises
    ------
    CalibrationNotFound
        None stored for the panel and mode, or none valid (exit 2: nothing has moved); the
        message says why and ends with ``fix``.
    """
    try:
        return store.select(serial, mode.key, rules=rules, temp_c=temp_c, now_utc=now_utc)
    except CalibrationNotFound as exc:
        raise CalibrationNotFound(f"refused before the exposure: {exc}; run: {fix}") from None


def refuse_unusable(
    calibration: CalibrationSet,
    *,
    serial: str,
    mode: ReadoutMode,
    temp_c: float,
    rules: ValidityRules,
    now_utc: dt.datetime | None = None,
) -> Validity:
    """Judge the set for this panel; refuse it when it must not or cannot be used.

    Returns
    -------
    Validity
        VALID, or STALE (dark stale: the workflow takes a fresh dark before PREP).

    Raises
    ------
    CalibrationMismatch
        Another detector or readout mode.
    CalibrationNotFound
        The gain and defect maps expired or were measured at another temperature: no
        valid calibration for the panel; the message names the command that fixes it.
    """
    validity = calibration.validity(serial, mode.key, temp_c, now_utc=now_utc, rules=rules)
    if validity.status is ValidityStatus.MISMATCHED:
        raise CalibrationMismatch(f"calibration set {calibration.set_id}: {validity}")
    if validity.status.needs_recalibration:
        raise CalibrationNotFound(
            f"refused before the exposure, nothing moved: calibration set "
            f"{calibration.set_id} of detector {serial!r} is {validity}; run: "
            f"{calibrate_command(None, mode)} (with this panel's URL)"
        )
    return validity


class CalibrationHolder:
    """The calibration in use and the freshness of its dark map.

    The exposure workflow asks :meth:`is_stale` before each exposure and calls
    :meth:`refresh_dark` when it says so.

    Parameters
    ----------
    calibration : CalibrationSet
        The maps in use.
    max_dark_age_s : float
        A dark map older than this is stale (the panel's offset drifts); ignored when
        ``rules`` are given (their ``dark_max_age_s``).
    dark_frames : int
        Frames averaged into a fresh dark.
    rules : ValidityRules, optional
        The validity rules (the dark's age and temperature limits are used here).
    now_utc : Clock, optional
        The clock ages are judged by (:func:`utc_now` when omitted).
    panel_temp_c : callable, optional
        Returns the panel's temperature now in °C; without it only the dark's age counts.
    store : CalibrationStore, optional
        Where a refreshed set is also stored (derived from the one it replaces); a store
        that cannot be written is logged, and the new dark is kept in memory.
    report : callable, optional
        Told in one line what a refresh produced (the command line prints it).
    """

    def __init__(
        self,
        calibration: CalibrationSet,
        max_dark_age_s: float = 600.0,
        dark_frames: int = 4,
        *,
        rules: ValidityRules | None = None,
        now_utc: Clock | None = None,
        panel_temp_c: Callable[[], float] | None = None,
        store: CalibrationStore | None = None,
        report: Callable[[str], None] | None = None,
    ) -> None:
        if dark_frames < 2:
            raise ValueError(f"a fresh dark needs at least 2 frames, got {dark_frames}")
        self.calibration = calibration
        self.rules = rules or ValidityRules(dark_max_age_s=max_dark_age_s)
        self.dark_frames = dark_frames
        self.now_utc: Clock = now_utc or utc_now
        self.panel_temp_c = panel_temp_c
        self.store = store
        self.report = report
        self.refreshes = 0
        """Fresh darks taken so far by this holder."""

    @property
    def max_dark_age_s(self) -> float:
        """Age in seconds after which the dark map is stale (0: always)."""
        return self.rules.dark_max_age_s

    @max_dark_age_s.setter
    def max_dark_age_s(self, value: float) -> None:
        self.rules = dataclasses.replace(self.rules, dark_max_age_s=value)

    def validity(self) -> Validity:
        """Judge the set in use for its own panel now (by the clock and the panel's temperature)."""
        cal = self.calibration
        temp_c = self.panel_temp_c() if self.panel_temp_c is not None else cal.temp_c
        now = self.now_utc()
        return cal.validity(cal.serial, cal.mode_key, temp_c, now_utc=now, rules=self.rules)

    def is_stale(self) -> bool:
        """Return True when the dark map is too old or the panel's temperature moved."""
        return self.validity().status is ValidityStatus.STALE

    def refresh_dark(self, pipeline: Pipeline) -> None:
        """Take ``dark_frames`` fresh darks and put their robust mean in the calibration.

        The gain and defect maps, and their age, are kept. The new set replaces the old in
        memory and is stored as derived from it when there is a store (a failure to store
        it is logged; the exposure goes on with the new dark).

        Raises
        ------
        CalibrationMismatch
            The panel read out in another mode than the calibration's.
        """
        old = self.calibration
        darks = DarkAccumulator()
        for _ in range(self.dark_frames):
            frame = pipeline.expose(0.0)
            if frame.meta.mode.key != old.mode_key:
                raise CalibrationMismatch(
                    f"the panel reads out in {frame.meta.mode.key}, calibration set "
                    f"{old.set_id} is for {old.mode_key}: no fresh dark taken"
                )
            darks.add(frame.pixels, frame.meta.temp_c)
        dark = darks.result(old.mode_key, now_utc=self.now_utc())
        self.calibration = dataclasses.replace(
            old,
            dark=dark.mean,
            created_utc=dark.created_utc,
            temp_c=dark.temp_c,
            n_dark=dark.n_frames,
        )
        self.refreshes += 1
        where = self._store(old.set_id)
        temp = "" if math.isnan(dark.temp_c) else f" at {dark.temp_c:.1f} °C"
        if self.report is not None:
            self.report(
                f"fresh dark: {dark.n_frames} darks{temp}, set {self.calibration.set_id} "
                f"(gain and defects kept from {old.set_id}), {where}"
            )

    def _store(self, parent_id: str) -> str:
        """Store the refreshed set derived from ``parent_id``; say where it is kept."""
        if self.store is None:
            return "kept in memory"
        try:
            path = self.store.save(self.calibration, derived_from=parent_id)
        except (OSError, CalibrationError) as exc:
            _log.warning(
                "fresh dark of set %s kept in memory only: cannot store it in %s: %s",
                parent_id,
                self.store.root,
                exc,
            )
            return f"kept in memory (not stored: {exc})"
        return f"stored in {path}"

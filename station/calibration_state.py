"""The calibration the station applies: chosen from the store, judged, shown in the status.

As ``panelgate expose`` does (:mod:`panelgate.acquisition.calibration_lifecycle`): the
newest stored set of the panel's serial number and readout mode whose gain and defect
maps are valid (:func:`~panelgate.acquisition.calibration_lifecycle.select_calibration`);
none, and the station is not ready, saying the command that measures one. A quick
calibration (a few darks and floods, not stored) only with ``[station] quick_calibration
= true`` on a simulated panel. The dark map is kept fresh by
:class:`~panelgate.acquisition.calibration_lifecycle.CalibrationHolder`: refreshed while
the station is idle, and before an exposure when stale, each fresh dark stored as a set
derived from the one in use.

A set whose gain and defect maps expire while the station runs (age, panel temperature)
blocks the exposures: :func:`blocked` gives the reason and the fixing command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from panelgate.acquisition.calibration_lifecycle import (
    CalibrationHolder,
    Clock,
    calibrate_command,
    calibration_store,
    select_calibration,
    validity_rules,
)
from panelgate.acquisition.config import Config
from panelgate.acquisition.errors import UsageError
from panelgate.acquisition.exposure import quick_calibration
from panelgate.acquisition.pipeline import Pipeline
from panelgate.calibration import CalibrationStore, Validity, warm_up

from .config import StationConfig
from .read_ahead import PrefetchedStore
from .startup import StartupPhases

__all__ = ["QUICK", "blocked", "describe", "fix_command", "obtain", "read_ahead"]

QUICK = "quick calibration (simulated panel, not stored)"
"""The ``source`` of a quick calibration in the status."""


def fix_command(config: Config, pipeline: Pipeline) -> str:
    """Return the command that measures a full set for the station's panel and mode."""
    named = calibration_store(config.calibration).root if config.calibration.directory else None
    return calibrate_command(config.detector.url, pipeline.detector.mode, named)


def read_ahead(
    config: Config, station: StationConfig, clock: Clock, startup: StartupPhases | None = None
) -> PrefetchedStore | None:
    """Start reading the stored set :func:`obtain` will most likely choose (:mod:`.read_ahead`).

    None when the station makes a quick calibration (no store). ``startup`` records the
    read-ahead as a phase.
    """
    if station.quick_calibration:
        return None
    root = calibration_store(config.calibration).root
    return PrefetchedStore(root, validity_rules(config.calibration), clock(), startup)


def obtain(
    config: Config,
    station: StationConfig,
    pipeline: Pipeline,
    *,
    simulated: bool,
    clock: Clock,
    report: Callable[[str], None],
    ahead: PrefetchedStore | None = None,
) -> tuple[CalibrationHolder, str]:
    """Return the calibration to apply and where it came from (the store's path, or QUICK).

    Parameters
    ----------
    config : Config
        ``[calibration]``: store, validity rules, frames of a fresh dark.
    station : StationConfig
        ``quick_calibration`` and its frames.
    pipeline : Pipeline
        Over the connected panel, in its readout mode.
    simulated : bool
        Whether the panel takes floods by hand (a simulated one).
    clock : Clock
        The time validity is judged at.
    report : callable
        Told in one line what each fresh dark produced.
    ahead : PrefetchedStore, optional
        The store as :func:`read_ahead` opened it before the devices (at start-up); the
        set is chosen the same with or without it.

    Raises
    ------
    UsageError
        ``quick_calibration`` on a panel that is not simulated.
    CalibrationNotFound
        No valid stored set for the panel and mode (the message ends with the fix).
    """
    detector = pipeline.detector
    common: dict[str, Any] = {
        "rules": validity_rules(config.calibration),
        "dark_frames": config.calibration.refresh_dark_frames,
        "now_utc": clock,
        "panel_temp_c": lambda: detector.status().temp_c,
        "report": report,
    }
    if station.quick_calibration:
        if not simulated:
            raise UsageError(
                "[station] quick_calibration needs a simulated panel (its floods need X-rays): "
                f"run: {fix_command(config, pipeline)}"
            )
        warm_up()
        frames = station.quick_calibration_frames
        calset = quick_calibration(pipeline, frames, config.calibration.flood_air_kerma_ugy)
        return CalibrationHolder(calset, **common), QUICK
    store: CalibrationStore = ahead if ahead is not None else calibration_store(config.calibration)
    try:
        calset = select_calibration(
            store,
            serial=pipeline.info.serial,
            mode=detector.mode,
            temp_c=detector.status().temp_c,
            rules=common["rules"],
            fix=fix_command(config, pipeline),
            now_utc=clock(),
        )
    finally:
        if isinstance(store, PrefetchedStore):
            store.forget_ahead()
    warm_up()
    return CalibrationHolder(calset, store=store, **common), str(store.root)


def blocked(validity: Validity, set_id: str, fix: str) -> str:
    """Say why exposures are blocked by the set in use, with the fix; empty when they are not."""
    if not validity.status.needs_recalibration:
        return ""
    return f"calibration set {set_id} is {validity}: no exposure until recalibrated; run: {fix}"


def describe(
    holder: CalibrationHolder, validity: Validity, source: str, fix: str
) -> dict[str, Any]:
    """Return the ``calibration`` part of ``GET /api/status``."""
    cal = holder.calibration
    expires = validity.gain_expires_utc
    return {
        "set_id": cal.set_id,
        "created_utc": cal.created_utc.isoformat(),
        "source": source,
        "status": validity.status.value,
        "reasons": list(validity.reasons),
        "gain_expires_utc": expires.isoformat() if expires is not None else None,
        "dark_age_s": None if validity.dark_age_s is None else round(validity.dark_age_s, 3),
        "dark_max_age_s": holder.max_dark_age_s,
        "fresh_darks": holder.refreshes,
        "blocked": blocked(validity, cal.set_id, fix),
    }

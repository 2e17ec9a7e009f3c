"""Calibration runs: which frames to take, in which order, and where the sets are kept.

A run against a detector (``panelgate calibrate --detector``) takes, in this order
(calibration.md §1–6): ``dark_frames`` darks with the panel settled; for each flood level
from low to high, one frame discarded (it carries the previous level's lag) and
``flood_frames`` floods; then one dark right after the last flood, for the lag test. The
frames come from an ``expose(air_kerma_ugy)``: a simulated panel's calibration source
(:meth:`~.pipeline.Pipeline.expose`), or, for any panel, the generator's floods and darks
with no beam (:class:`~.generator_floods.GeneratorFloods`). The same maps can be built
offline from recorded stacks (:func:`calibrate_from_stacks`). Either way the new set
carries its quality figures (residual PRNU and NNU per level,
:mod:`panelgate.calibration.quality`), measured from the floods it was built from, which
the store keeps in its manifest.

Where the store lives: ``--store DIR`` when given; else ``$PANELGATE_HOME/calibration``
when ``PANELGATE_HOME`` is set; else ``~/.local/share/panelgate/calibration``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from panelgate.calibration import (
    DEFAULT_DARK_FRAMES,
    CalibrationSet,
    DarkAccumulator,
    DarkMap,
    FloodLevel,
    FrameAverager,
    build_calibration,
)
from panelgate.calibration.quality import measure_quality
from panelgate.drivers import Frame

from .errors import UsageError

__all__ = [
    "CalibrationPlan",
    "Progress",
    "calibrate_from_stacks",
    "default_store_dir",
    "measure_dark",
    "measure_floods",
    "run_calibration",
]

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)`` after every frame."""

Expose = Callable[[float], Frame]
"""Takes one frame at an air kerma in µGy (0 = dark)."""


def default_store_dir(explicit: Path | None = None) -> Path:
    """Return the calibration store directory (see the module docstring)."""
    if explicit is not None:
        return Path(explicit)
    home = os.environ.get("PANELGATE_HOME")
    if home:
        return Path(home) / "calibration"
    return Path.home() / ".local" / "share" / "panelgate" / "calibration"


@dataclass(frozen=True)
class CalibrationPlan:
    """How many frames at which doses a calibration run takes.

    Parameters
    ----------
    dark_frames : int
        Darks averaged (default 32, calibration.md §2).
    flood_frames : int
        Floods averaged per level (≥ 16, DALSA).
    levels_ugy : tuple of float
        Flood air kerma per level, in µGy; three or more for multi-point gain.
    multipoint : bool
        Build the piecewise-linear gain (with ≥ 2 levels).
    pedestal_counts : float
        Constant added after offset subtraction.
    """

    dark_frames: int = DEFAULT_DARK_FRAMES
    flood_frames: int = 16
    levels_ugy: tuple[float, ...] = (4.0, 8.0, 16.0)
    multipoint: bool = True
    pedestal_counts: float = 100.0

    def __post_init__(self) -> None:
        problems = []
        if not 2 <= self.dark_frames <= 1024 or not 2 <= self.flood_frames <= 1024:
            problems.append("frame counts must be 2-1024")
        if not self.levels_ugy or any(not (0 < v < 1e4) for v in self.levels_ugy):
            problems.append(f"flood levels must be > 0 µGy, got {self.levels_ugy}")
        if len(set(self.levels_ugy)) != len(self.levels_ugy):
            problems.append(f"flood levels must differ, got {self.levels_ugy}")
        if problems:
            raise UsageError("invalid calibration plan: " + "; ".join(problems))


def _quiet(phase: str, done: int, total: int) -> None:
    """Progress sink that reports nothing."""


def measure_dark(
    expose: Expose, n_frames: int, mode_key: str, progress: Progress = _quiet
) -> DarkMap:
    """Take ``n_frames`` darks and average them robustly (streaming)."""
    acc = DarkAccumulator()
    for i in range(n_frames):
        frame = expose(0.0)
        acc.add(frame.pixels, frame.meta.temp_c)
        progress("darks", i + 1, n_frames)
    return acc.result(mode_key)


def measure_floods(
    expose: Expose, levels_ugy: Sequence[float], n_frames: int, progress: Progress = _quiet
) -> list[FloodLevel]:
    """Take ``n_frames`` floods at each level, low to high, after one discarded frame each."""
    return [flood for flood, _ in _measure_floods(expose, levels_ugy, n_frames, progress)]


_Measured = tuple[FloodLevel, npt.NDArray[np.float32] | None]
"""One level's mean flood and its per-pixel temporal σ of one frame (None: one frame)."""


def _measure_floods(
    expose: Expose, levels_ugy: Sequence[float], n_frames: int, progress: Progress
) -> list[_Measured]:
    measured = []
    for level in sorted(levels_ugy):
        expose(level)  # carries the previous level's lag
        averager = FrameAverager()
        for i in range(n_frames):
            averager.add(expose(level).pixels)
            progress(f"floods {level:g} µGy", i + 1, n_frames)
        measured.append(_measured(level, averager))
    return measured


def _measured(level_ugy: float, averager: FrameAverager) -> _Measured:
    flood = _flood_level(level_ugy, averager)
    return flood, (averager.std() if averager.count >= 2 else None)


def _with_quality(calset: CalibrationSet, measured: Sequence[_Measured]) -> CalibrationSet:
    """Return ``calset`` with its residual PRNU and NNU per level measured from its floods.

    NNU needs every level's temporal σ; a set too small for the ROIs gets no figures.
    """
    floods = [flood for flood, _ in measured]
    noise = [std for _, std in measured]
    try:
        quality = measure_quality(
            calset,
            [f.air_kerma_ugy for f in floods],
            [f.mean for f in floods],
            [f.n_frames for f in floods],
            [s for s in noise if s is not None] if all(s is not None for s in noise) else [],
        )
    except ValueError:  # too small a matrix for TG-150 ROIs: stored as not measured
        return calset
    return dataclasses.replace(calset, quality=quality)


def _flood_level(level_ugy: float, averager: FrameAverager) -> FloodLevel:
    """Return one level's mean flood and the panel's median temporal variance of one frame.

    The population variance of n frames is scaled by n / (n − 1) (unbiased); the
    multi-point gain tests each pixel's linearity against it (see ``calibration.gain``);
    NaN (unknown) from a single frame.
    """
    n = averager.count
    if n < 2:
        return FloodLevel(level_ugy, averager.mean(), n)
    std = averager.std()
    variance = float(np.median(std * std)) * n / (n - 1)
    return FloodLevel(level_ugy, averager.mean(), n, variance)


def run_calibration(
    expose: Expose,
    plan: CalibrationPlan,
    *,
    serial: str,
    mode_key: str,
    full_scale: int,
    progress: Progress = _quiet,
) -> CalibrationSet:
    """Take darks, floods and a lag dark from a detector and build a full set."""
    dark = measure_dark(expose, plan.dark_frames, mode_key, progress)
    measured = _measure_floods(expose, plan.levels_ugy, plan.flood_frames, progress)
    lag_dark = expose(0.0).pixels.astype(np.float32)
    progress("lag dark", 1, 1)
    calset = build_calibration(
        dark,
        [flood for flood, _ in measured],
        serial=serial,
        full_scale=full_scale,
        lag_dark=lag_dark,
        multipoint=plan.multipoint,
        pedestal_counts=plan.pedestal_counts,
    )
    return _with_quality(calset, measured)


def _mean(frames: Iterable[npt.NDArray[np.uint16]]) -> FrameAverager:
    averager = FrameAverager()
    for frame in frames:
        averager.add(frame)
    return averager


def calibrate_from_stacks(
    darks: Iterable[npt.NDArray[np.uint16]],
    floods: Sequence[Iterable[npt.NDArray[np.uint16]]],
    *,
    serial: str,
    mode_key: str,
    full_scale: int,
    levels_ugy: Sequence[float] = (),
    lag_dark: npt.NDArray[np.uint16] | None = None,
    temp_c: float = math.nan,
    multipoint: bool = True,
    progress: Progress = _quiet,
) -> CalibrationSet:
    """Build a full set from recorded frames (one iterable of darks, one per flood level)."""
    if levels_ugy and len(levels_ugy) != len(floods):
        raise UsageError(f"{len(levels_ugy)} levels given for {len(floods)} flood stacks")
    acc = DarkAccumulator()
    for i, frame in enumerate(darks):
        acc.add(frame, temp_c)
        progress("darks", i + 1, 0)
    dark = acc.result(mode_key)
    levels = list(levels_ugy) or [math.nan] * len(floods)
    measured = []
    for level, stack in zip(levels, floods, strict=True):
        measured.append(_measured(level, _mean(stack)))
        progress("floods", len(measured), len(floods))
    calset = build_calibration(
        dark,
        [flood for flood, _ in measured],
        serial=serial,
        full_scale=full_scale,
        lag_dark=None if lag_dark is None else lag_dark.astype(np.float32),
        multipoint=multipoint,
    )
    return _with_quality(calset, measured)

"""Offset (dark) maps: robust streaming average, validity rules and a running update.

Robust average, streaming
-------------------------
A median needs the whole stack; this module uses a **sigma-clipped mean against a median
seed** instead, which needs only the first few frames in memory:

1. the first ``seed_frames`` frames (default 5) are kept and their per-pixel median is the
   seed; the clipping σ is the panel's median temporal σ of those frames (robust, one
   number), floored at 0.5 count;
2. every frame, seed frames included, is accumulated into a running sum of the values
   within ``clip_sigmas`` (default 4) × σ of the seed, with a per-pixel count;
3. the map is sum / count; a pixel with no frame inside the window keeps the seed median.

So a transient (a cosmic or a glitching row in one frame) cannot pull the mean, and the
memory is ``seed_frames`` raw frames plus four float64 maps, whatever ``N`` is. The
unclipped sum and sum of squares are kept too, for the temporal σ the noisy-pixel test
(ASTM E2597, > 6 × the median σ) needs. Practice: ADPerkinElmer ``NumOffsetFrames``;
pyFAI-average ``--cutoff``; N configurable, default :data:`DEFAULT_DARK_FRAMES`.

Validity
--------
A dark map is **VALID** for a frame when the readout mode matches, it is younger than
``max_age_s`` and the panel temperature moved less than ``max_temp_delta_c``; **STALE**
when it is too old or the temperature moved (refresh it: the offset drifts with
temperature over minutes); **MISMATCHED** when the mode differs (never apply it). The
status carries the reasons (the iRay states Valid / OutOfDate / ParamMisMatch).

Running update
--------------
:func:`update_dark` blends fresh darks in with exponential weighting,
``D ← D + (F − D) / weight`` (Teledyne DALSA: "new dark weight" 10 for slow drift, 20 for
temperature drift, over ≥ 32 frames), so a map follows drift without a full recalibration.
Darks taken right after an exposure carry lag: let the panel settle first.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass, field, replace

import numba
import numpy as np
import numpy.typing as npt

from .errors import CalibrationError
from .stats import panel_median

__all__ = [
    "DEFAULT_DARK_FRAMES",
    "DarkAccumulator",
    "DarkMap",
    "Validity",
    "ValidityRules",
    "ValidityStatus",
    "check_validity",
    "update_dark",
]

DEFAULT_DARK_FRAMES = 32
"""Dark frames averaged into a map unless told otherwise."""


@dataclass(frozen=True)
class DarkMap:
    """An offset map and the conditions it was measured in.

    Parameters
    ----------
    mean : numpy.ndarray
        float32 robust mean dark level per pixel, in counts.
    std : numpy.ndarray
        float32 temporal σ per pixel (all frames, unclipped), in counts.
    mode_key : str
        :attr:`panelgate.drivers.ReadoutMode.key` of the readout mode.
    temp_c : float
        Panel temperature in °C (mean over the frames).
    n_frames : int
        Frames averaged.
    created_utc : datetime.datetime
        When the last frame was taken.
    """

    mean: npt.NDArray[np.float32]
    std: npt.NDArray[np.float32]
    mode_key: str
    temp_c: float
    n_frames: int
    created_utc: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@numba.njit(nogil=True, parallel=True, cache=True)
def _accumulate(  # noqa: PLR0917  # pragma: no cover - compiled, positional by design
    pixels: npt.NDArray[np.uint16],
    seed: npt.NDArray[np.float32],
    half_window: float,
    total: npt.NDArray[np.float64],
    total_sq: npt.NDArray[np.float64],
    clipped: npt.NDArray[np.float64],
    clipped_n: npt.NDArray[np.int32],
) -> None:
    """Add one frame to the running sums (all values) and the clipped sum (near the seed)."""
    h, w = pixels.shape
    for y in numba.prange(h):
        for x in range(w):
            v = float(pixels[y, x])
            total[y, x] += v
            total_sq[y, x] += v * v
            if abs(v - seed[y, x]) <= half_window:
                clipped[y, x] += v
                clipped_n[y, x] += 1


class DarkAccumulator:
    """Builds a :class:`DarkMap` from frames added one at a time (see the module docstring).

    Parameters
    ----------
    seed_frames : int
        Frames kept to form the median seed (the only frames held in memory).
    clip_sigmas : float
        Half-width of the acceptance window around the seed, in panel σ.
    """

    def __init__(self, seed_frames: int = 5, clip_sigmas: float = 4.0) -> None:
        if seed_frames < 1 or not clip_sigmas > 0:
            raise ValueError(
                f"seed_frames must be >= 1 and clip_sigmas > 0, got {seed_frames}, {clip_sigmas}"
            )
        self.seed_frames = seed_frames
        self.clip_sigmas = clip_sigmas
        self._pending: list[npt.NDArray[np.uint16]] = []
        self._seed: npt.NDArray[np.float32] | None = None
        self._half_window = 0.0
        self._sum = np.zeros(0)
        self._sumsq = np.zeros(0)
        self._clipped_sum = np.zeros(0)
        self._clipped_n = np.zeros(0, dtype=np.int32)
        self._temps: list[float] = []
        self.count = 0

    def add(self, pixels: npt.NDArray[np.uint16], temp_c: float = math.nan) -> None:
        """Add one dark frame taken at panel temperature ``temp_c``.

        Raises
        ------
        CalibrationError
            The frame's shape differs from the first one's.
        """
        first = self._pending[0] if self._pending else None
        shape = first.shape if first is not None else self._sum.shape
        if self.count and pixels.shape != shape:
            raise CalibrationError(
                f"dark frame {self.count + 1} has shape {pixels.shape}, the first had {shape}"
            )
        self.count += 1
        self._temps.append(float(temp_c))
        if self._seed is None:
            self._pending.append(np.array(pixels, dtype=np.uint16, copy=True))
            if len(self._pending) == self.seed_frames:
                self._start()
            return
        self._accumulate(pixels, self._seed)

    def _start(self) -> npt.NDArray[np.float32]:
        stack = np.stack(self._pending).astype(np.float32)
        self._seed = np.median(stack, axis=0).astype(np.float32)
        sigma = panel_median(stack.std(axis=0)) if len(stack) > 1 else 0.0
        self._half_window = self.clip_sigmas * max(sigma, 0.5)
        shape = self._seed.shape
        self._sum = np.zeros(shape)
        self._sumsq = np.zeros(shape)
        self._clipped_sum = np.zeros(shape)
        self._clipped_n = np.zeros(shape, dtype=np.int32)
        pending, self._pending = self._pending, []
        for frame in pending:
            self._accumulate(frame, self._seed)
        return self._seed

    def _accumulate(self, pixels: npt.NDArray[np.uint16], seed: npt.NDArray[np.float32]) -> None:
        _accumulate(
            np.ascontiguousarray(pixels),
            seed,
            self._half_window,
            self._sum,
            self._sumsq,
            self._clipped_sum,
            self._clipped_n,
        )

    def result(self, mode_key: str) -> DarkMap:
        """Return the dark map of the frames added so far (at least 2).

        Raises
        ------
        CalibrationError
            Fewer than 2 frames.
        """
        if self.count < 2:
            raise CalibrationError(f"a dark map needs at least 2 frames, got {self.count}")
        seed = self._start() if self._seed is None else self._seed
        n = self.count
        mean = np.where(
            self._clipped_n > 0, self._clipped_sum / np.maximum(self._clipped_n, 1), seed
        )
        var = self._sumsq / n - (self._sum / n) ** 2
        std = np.sqrt(np.maximum(var, 0.0))
        temps = [t for t in self._temps if not math.isnan(t)]
        return DarkMap(
            mean=mean.astype(np.float32),
            std=std.astype(np.float32),
            mode_key=mode_key,
            temp_c=float(np.mean(temps)) if temps else math.nan,
            n_frames=n,
        )


class ValidityStatus(enum.Enum):
    """Whether a calibration may be applied to a frame."""

    VALID = "valid"
    STALE = "stale"  #: too old or the temperature moved: refresh soon, usable meanwhile
    MISMATCHED = "mismatched"  #: another readout mode (or detector): never apply


@dataclass(frozen=True)
class ValidityRules:
    """Limits beyond which a dark map is stale.

    Parameters
    ----------
    max_age_s : float
        Age after which darks are re-taken (DALSA: every 5–10 min under temperature drift).
    max_temp_delta_c : float
        Panel temperature change after which the offset has drifted too far.
    """

    max_age_s: float = 600.0
    max_temp_delta_c: float = 2.0

    def __post_init__(self) -> None:
        if not (self.max_age_s > 0 and self.max_temp_delta_c > 0):
            raise ValueError(
                f"validity limits must be positive, got {self.max_age_s} s, "
                f"{self.max_temp_delta_c} °C"
            )


@dataclass(frozen=True)
class Validity:
    """A status and the reasons for it (empty when valid)."""

    status: ValidityStatus
    reasons: tuple[str, ...] = ()

    def __str__(self) -> str:
        why = "; ".join(self.reasons)
        return self.status.value + (f" ({why})" if why else "")


def check_validity(
    mode_key: str,
    temp_c: float,
    created_utc: dt.datetime,
    *,
    frame_mode_key: str,
    frame_temp_c: float,
    now_utc: dt.datetime | None = None,
    rules: ValidityRules | None = None,
) -> Validity:
    """Decide whether maps measured in (mode, temperature, time) fit a frame.

    Parameters
    ----------
    mode_key, temp_c, created_utc
        Conditions of the calibration.
    frame_mode_key, frame_temp_c
        Conditions of the frame.
    now_utc : datetime.datetime, optional
        The time to judge age at; now when omitted.
    rules : ValidityRules, optional
        Limits; defaults when omitted.

    Returns
    -------
    Validity
        MISMATCHED (mode differs) before STALE (age or temperature) before VALID.
    """
    rules = rules or ValidityRules()
    if mode_key != frame_mode_key:
        return Validity(
            ValidityStatus.MISMATCHED,
            (f"readout mode {frame_mode_key!r} differs from the calibration's {mode_key!r}",),
        )
    reasons = []
    now = now_utc or dt.datetime.now(dt.UTC)
    age_s = (now - created_utc).total_seconds()
    if age_s > rules.max_age_s:
        reasons.append(f"{age_s:.0f} s old, limit {rules.max_age_s:.0f} s")
    if math.isnan(temp_c) or math.isnan(frame_temp_c):
        reasons.append("panel temperature unknown")
    elif abs(frame_temp_c - temp_c) > rules.max_temp_delta_c:
        reasons.append(
            f"panel at {frame_temp_c:.1f} °C, calibrated at {temp_c:.1f} °C "
            f"(limit ±{rules.max_temp_delta_c:g} °C)"
        )
    return Validity(ValidityStatus.STALE if reasons else ValidityStatus.VALID, tuple(reasons))


def update_dark(
    dark: DarkMap,
    frame: npt.NDArray[np.uint16],
    temp_c: float,
    weight: float = 20.0,
    now_utc: dt.datetime | None = None,
) -> DarkMap:
    """Blend one fresh dark frame into a map: ``D ← D + (F − D) / weight``.

    Parameters
    ----------
    dark : DarkMap
        The current map.
    frame : numpy.ndarray
        A fresh dark frame (uint16, the map's shape), taken with the panel settled.
    temp_c : float
        Panel temperature of the frame, in °C; the map's temperature follows it with the
        same weight.
    weight : float
        DALSA's "new dark weight": 10 for slow drift, 20 (default) for temperature drift.

    Returns
    -------
    DarkMap
        A new map (the old one is unchanged), stamped with ``now_utc``.
    """
    if frame.shape != dark.mean.shape:
        raise CalibrationError(
            f"dark frame of shape {frame.shape} does not fit the map's {dark.mean.shape}"
        )
    if not weight >= 1:
        raise ValueError(f"weight must be >= 1, got {weight}")
    alpha = np.float32(1.0 / weight)
    mean = dark.mean + (frame.astype(np.float32) - dark.mean) * alpha
    new_temp = dark.temp_c + (temp_c - dark.temp_c) / weight
    if math.isnan(dark.temp_c):
        new_temp = temp_c
    return replace(
        dark,
        mean=mean.astype(np.float32),
        temp_c=float(new_temp),
        created_utc=now_utc or dt.datetime.now(dt.UTC),
    )

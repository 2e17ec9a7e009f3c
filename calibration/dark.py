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
A calibration set has two lifetimes (calibration.md §2: "detector temperature varies over
minutes (affects the dark image); gain ages over years"; defect maps drift over months).
:func:`check_validity` judges both against :class:`ValidityRules`, worst first:

- **MISMATCHED**: the readout mode differs; never apply the maps.
- **EXPIRED**: the gain and defect maps are older than ``gain_max_age_s``; recalibrate.
- **OTHER_TEMPERATURE**: the panel is more than ``gain_max_temp_delta_c`` from the
  temperature the gain and defect maps were measured at; recalibrate.
- **STALE** (dark stale): the dark map is older than ``dark_max_age_s`` or the panel moved
  more than ``dark_max_temp_delta_c`` (or its temperature is unknown); take a fresh dark,
  which needs no X-rays and no technician.
- **VALID** otherwise.

The status carries the reasons, when the gain and defect maps expire and how old the dark
is (the iRay states Valid / ValidWarn / OutOfDate / ParamMisMatch). A gain measured at an
unknown temperature is not refused on temperature (offline sets often lack it); the reason
says so.

Running update
--------------
:func:`update_dark` blends fresh darks in with exponential weighting,
``D ← D + (F − D) / weight`` (Teledyne DALSA: "new dark weight" 10 for slow drift, 20 for
temperature drift, over ≥ 32 frames), so a map follows drift without a full recalibration.
Darks taken right after an exposure carry lag: let the panel settle first.
"""

from __future__ import annotations

import dataclasses
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
    "DAY_S",
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

    def result(self, mode_key: str, now_utc: dt.datetime | None = None) -> DarkMap:
        """Return the dark map of the frames added so far (at least 2), stamped ``now_utc``.

        ``now_utc`` is the time of the last frame; now when omitted (inject a clock).

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
            created_utc=now_utc or dt.datetime.now(dt.UTC),
        )


class ValidityStatus(enum.Enum):
    """Whether a calibration may be applied to a frame; see the module docstring."""

    VALID = "valid"
    STALE = "dark stale"  #: the dark is too old or the temperature moved: take a fresh dark
    EXPIRED = "expired"  #: the gain and defect maps are too old: recalibrate
    OTHER_TEMPERATURE = "other temperature"  #: gain measured too far from the panel's now
    MISMATCHED = "mismatched"  #: another readout mode (or detector): never apply

    @property
    def needs_recalibration(self) -> bool:
        """True when only a new gain and defect calibration (floods) can make the set usable."""
        return self in (ValidityStatus.EXPIRED, ValidityStatus.OTHER_TEMPERATURE)


DAY_S = 86400.0
"""Seconds in a day."""


@dataclass(frozen=True)
class ValidityRules:
    """Limits beyond which a calibration set's dark is stale or its gain and defects expire.

    Parameters
    ----------
    dark_max_age_s : float
        Age after which the dark (offset) map is re-taken; DALSA: snap darks every
        5–10 min under temperature drift (calibration.md §2), so 600 s. 0: the dark is
        always stale (a fresh dark before every exposure, as Varex's post-offset).
    dark_max_temp_delta_c : float
        Panel temperature change after which the offset has drifted too far.
    gain_max_age_s : float
        Age after which the gain and defect maps expire (default 30 days: defect maps drift
        over months, gain over years; calibration.md §2 and §4).
    gain_max_temp_delta_c : float
        Panel temperature change after which the gain and defect maps no longer apply.
    """

    dark_max_age_s: float = 600.0
    dark_max_temp_delta_c: float = 2.0
    gain_max_age_s: float = 30 * DAY_S
    gain_max_temp_delta_c: float = 5.0

    def __post_init__(self) -> None:
        limits = dataclasses.asdict(self)
        bad = [
            f"{k} {v!r}"
            for k, v in limits.items()
            if not (math.isfinite(v) and (v > 0 or (v == 0 and k == "dark_max_age_s")))
        ]
        if bad:
            raise ValueError("validity limits must be positive and finite, got " + ", ".join(bad))


@dataclass(frozen=True)
class Validity:
    """A status, the reasons for it (empty when valid) and the set's lifetimes.

    Parameters
    ----------
    status : ValidityStatus
        The worst finding.
    reasons : tuple of str
        Every finding, in words.
    gain_expires_utc : datetime.datetime or None
        When the gain and defect maps expire (None when the mode did not match).
    dark_age_s : float or None
        Age of the dark map at the time judged, in seconds.
    """

    status: ValidityStatus
    reasons: tuple[str, ...] = ()
    gain_expires_utc: dt.datetime | None = None
    dark_age_s: float | None = None

    def __str__(self) -> str:
        why = "; ".join(self.reasons)
        return self.status.value + (f" ({why})" if why else "")


def _age(age_s: float) -> str:
    """Say an age in seconds, minutes, hours or days."""
    for unit, size in (("days", DAY_S), ("h", 3600.0), ("min", 60.0)):
        if age_s >= 2 * size:
            return f"{age_s / size:.1f} {unit}"
    return f"{age_s:.0f} s"


def check_validity(
    mode_key: str,
    temp_c: float,
    created_utc: dt.datetime,
    *,
    frame_mode_key: str,
    frame_temp_c: float,
    now_utc: dt.datetime | None = None,
    rules: ValidityRules | None = None,
    gain_created_utc: dt.datetime | None = None,
    gain_temp_c: float | None = None,
) -> Validity:
    """Decide whether maps measured in (mode, temperature, time) fit a frame.

    Parameters
    ----------
    mode_key, temp_c, created_utc
        Conditions of the dark map: readout mode, panel temperature (°C), time.
    frame_mode_key, frame_temp_c
        Conditions of the frame (or of the panel now).
    now_utc : datetime.datetime, optional
        The time to judge age at; now when omitted.
    rules : ValidityRules, optional
        Limits; defaults when omitted.
    gain_created_utc, gain_temp_c : optional
        When and at what temperature the gain and defect maps were measured; the dark's
        when omitted (a set measured in one run).

    Returns
    -------
    Validity
        MISMATCHED, EXPIRED, OTHER_TEMPERATURE, STALE, VALID: the first that applies, with
        every reason found.
    """
    rules = rules or ValidityRules()
    if mode_key != frame_mode_key:
        return Validity(
            ValidityStatus.MISMATCHED,
            (f"readout mode {frame_mode_key!r} differs from the calibration's {mode_key!r}",),
        )
    now = now_utc or dt.datetime.now(dt.UTC)
    gain_utc = created_utc if gain_created_utc is None else gain_created_utc
    gain_t = temp_c if gain_temp_c is None else gain_temp_c
    found: list[tuple[ValidityStatus, str]] = []
    gain_age_s = (now - gain_utc).total_seconds()
    if gain_age_s > rules.gain_max_age_s:
        found.append(
            (
                ValidityStatus.EXPIRED,
                f"gain and defect maps {_age(gain_age_s)} old, limit {_age(rules.gain_max_age_s)}",
            )
        )
    if math.isnan(gain_t) or math.isnan(frame_temp_c):
        pass  # said below for the dark; a gain of unknown temperature is not refused
    elif abs(frame_temp_c - gain_t) > rules.gain_max_temp_delta_c:
        found.append(
            (
                ValidityStatus.OTHER_TEMPERATURE,
                f"panel at {frame_temp_c:.1f} °C, gain calibrated at {gain_t:.1f} °C "
                f"(limit ±{rules.gain_max_temp_delta_c:g} °C)",
            )
        )
    dark_age_s = (now - created_utc).total_seconds()
    if dark_age_s > rules.dark_max_age_s or rules.dark_max_age_s == 0:
        found.append(
            (
                ValidityStatus.STALE,
                f"dark {dark_age_s:.0f} s old, limit {rules.dark_max_age_s:.0f} s",
            )
        )
    if math.isnan(temp_c) or math.isnan(frame_temp_c):
        found.append((ValidityStatus.STALE, "panel temperature unknown"))
    elif abs(frame_temp_c - temp_c) > rules.dark_max_temp_delta_c:
        found.append(
            (
                ValidityStatus.STALE,
                f"panel at {frame_temp_c:.1f} °C, dark taken at {temp_c:.1f} °C "
                f"(limit ±{rules.dark_max_temp_delta_c:g} °C)",
            )
        )
    status = found[0][0] if found else ValidityStatus.VALID
    return Validity(
        status,
        tuple(reason for _, reason in found),
        gain_expires_utc=gain_utc + dt.timedelta(seconds=rules.gain_max_age_s),
        dark_age_s=dark_age_s,
    )


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

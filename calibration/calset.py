"""A calibration set: the dark, gain and defect maps of one detector in one readout mode."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import numpy.typing as npt

from .dark import Validity, ValidityRules, ValidityStatus, check_validity
from .plan import DefectPlan, plan_defects
from .quality import CalibrationQuality

__all__ = ["CalibrationSet", "DefectFlag", "PiecewiseGain", "Replacement"]

Replacement = Literal["mean", "directional"]
"""Defect replacement rule of the correction kernels (see ``reference``)."""


class DefectFlag:
    """Bit flags of :attr:`CalibrationSet.defects`; a pixel may carry several causes.

    Criteria (ASTM E2597 classes; thresholds in :mod:`panelgate.calibration.defects`).
    Every flagged pixel is replaced from its good neighbours by the correction.
    """

    DEAD = 1  #: no or too little response to dose (under-responding, < 0.6 × local)
    HOT = 2  #: dark level far above the panel's, or saturated in the flood
    OVER = 4  #: over-responding in the flood (> 1.3 × local)
    NOISY = 8  #: temporal noise in darks far above the panel's (> 6 × median σ)
    NONUNIFORM = 16  #: response deviates from its 9 × 9 neighbourhood across dose (non-linear)
    LAG = 32  #: first dark after exposure > 2 × the 9 × 9 median lag (persistence)
    LINE = 64  #: part of a run of defects along a row or column
    CLUSTER = 128  #: part of a connected blob of defects (not a line)

    @classmethod
    def names(cls) -> dict[str, int]:
        """Flag name (lower case) to bit."""
        return {n.lower(): v for n, v in vars(cls).items() if n.isupper()}


@dataclass(frozen=True)
class PiecewiseGain:
    """Multi-point gain: per-pixel piecewise-linear map onto the panel-mean response.

    Parameters
    ----------
    breaks : numpy.ndarray
        float32 (K−1, H, W): each pixel's dark-subtracted flood signal at the flood levels
        but the last, increasing along axis 0.
    slopes : numpy.ndarray
        float32 (K, H, W): slope of each of the K segments (origin to first break, ...,
        last break onwards).
    knots : numpy.ndarray
        float64 (K−1,): panel-mean flood signal at each break.
    levels_ugy : tuple of float
        Air kerma of the K flood levels, for the record.
    """

    breaks: npt.NDArray[np.float32]
    slopes: npt.NDArray[np.float32]
    knots: npt.NDArray[np.float64]
    levels_ugy: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        k = self.slopes.shape[0] if self.slopes.ndim == 3 else 0
        if (
            self.slopes.ndim != 3
            or self.slopes.dtype != np.float32
            or self.breaks.dtype != np.float32
            or self.breaks.shape != (k - 1, *self.slopes.shape[1:])
            or self.knots.dtype != np.float64
            or self.knots.shape != (k - 1,)
            or k < 1
        ):
            raise ValueError(
                "piecewise gain needs float32 slopes (K, H, W), float32 breaks (K-1, H, W) and "
                f"float64 knots (K-1,); got slopes {self.slopes.dtype}{self.slopes.shape}, "
                f"breaks {self.breaks.dtype}{self.breaks.shape}, "
                f"knots {self.knots.dtype}{self.knots.shape}"
            )

    @property
    def segments(self) -> int:
        """Number of linear segments K (the number of flood levels)."""
        return int(self.slopes.shape[0])


@dataclass(frozen=True)
class CalibrationSet:
    """Maps that turn one detector's raw frames into a uniform image.

    The correction of a raw value ``R`` at a good pixel is ``(R - dark) * gain + pedestal``;
    a pixel with any defect flag set is replaced from its good neighbours.

    Parameters
    ----------
    serial : str
        Serial number of the detector the maps were measured on.
    mode_key : str
        :attr:`panelgate.drivers.ReadoutMode.key` of the readout mode.
    dark : numpy.ndarray
        float32 offset map in counts.
    gain : numpy.ndarray
        float32 multiplicative gain map, mean 1 over good pixels.
    defects : numpy.ndarray
        uint8 :class:`DefectFlag` bits, 0 = good.
    pedestal_counts : float
        Constant added after offset subtraction so that noise around zero is not clipped.
    created_utc : datetime.datetime
        When the dark map was measured (the last calibration: a fresh dark moves it).
    temp_c : float
        Panel temperature during the darks, in degrees Celsius.
    n_dark, n_flood : int
        Frames averaged into the dark and flood maps.
    pwl : PiecewiseGain, optional
        Multi-point gain; when given it is used instead of ``gain`` (which then holds the
        single-point gain at the level nearest the middle, for display and export).
    replacement : {"mean", "directional"}
        Defect replacement rule.
    gain_created_utc : datetime.datetime, optional
        When the gain and defect maps were measured; ``created_utc`` when not given (one
        run measured everything). Set on construction, so that replacing the dark
        (``dataclasses.replace(calset, dark=..., created_utc=...)``) keeps the gain's age.
    gain_temp_c : float, optional
        Panel temperature during the floods in °C; ``temp_c`` when not given (likewise).
    quality : CalibrationQuality, optional
        Residual PRNU and NNU per flood level, measured when the set was built
        (:mod:`.quality`); not part of the content id. The store keeps them only when they
        were measured with this set's gain and defect maps (a partial recalibration that
        replaced one of them is stored as not measured).
    """

    serial: str
    mode_key: str
    dark: npt.NDArray[np.float32]
    gain: npt.NDArray[np.float32]
    defects: npt.NDArray[np.uint8]
    pedestal_counts: float = 100.0
    created_utc: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    temp_c: float = float("nan")
    n_dark: int = 0
    n_flood: int = 0
    pwl: PiecewiseGain | None = None
    replacement: Replacement = "mean"
    gain_created_utc: dt.datetime | None = None
    gain_temp_c: float | None = None
    quality: CalibrationQuality | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.gain_created_utc is None:
            object.__setattr__(self, "gain_created_utc", self.created_utc)
        if self.gain_temp_c is None:
            object.__setattr__(self, "gain_temp_c", self.temp_c)
        shape = self.dark.shape
        for name, arr, dtype in (
            ("dark", self.dark, np.float32),
            ("gain", self.gain, np.float32),
            ("defects", self.defects, np.uint8),
        ):
            if arr.ndim != 2 or arr.shape != shape or arr.dtype != dtype:
                raise ValueError(
                    f"calibration map {name} must be 2-D {np.dtype(dtype).name} of shape {shape}, "
                    f"got {arr.dtype} of shape {arr.shape}"
                )
        if self.pwl is not None and self.pwl.slopes.shape[1:] != shape:
            raise ValueError(
                f"piecewise gain of shape {self.pwl.slopes.shape[1:]} does not fit maps {shape}"
            )
        if self.replacement not in ("mean", "directional"):
            raise ValueError(f"replacement must be mean or directional, got {self.replacement!r}")

    @property
    def gain_utc(self) -> dt.datetime:
        """When the gain and defect maps were measured (see ``gain_created_utc``)."""
        return self.gain_created_utc or self.created_utc

    @property
    def gain_at_temp_c(self) -> float:
        """Panel temperature in °C when the gain and defect maps were measured."""
        return self.temp_c if self.gain_temp_c is None else self.gain_temp_c

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the maps."""
        return (int(self.dark.shape[0]), int(self.dark.shape[1]))

    @property
    def defect_rows_cols(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Row and column indices of every defective pixel, in raster order (the plan's)."""
        return self.defect_plan.rows, self.defect_plan.cols

    @cached_property
    def defect_plan(self) -> DefectPlan:
        """The neighbours each defect is replaced from, by this set's rule (see :mod:`.plan`)."""
        return plan_defects(self.defects, self.replacement == "directional")

    @cached_property
    def set_id(self) -> str:
        """Content hash naming this set: the same maps and identity give the same id."""
        digest = hashlib.sha256()
        digest.update(f"{self.serial}|{self.mode_key}|{self.pedestal_counts!r}".encode())
        arrays = [self.dark, self.gain, self.defects]
        if self.pwl is not None:
            arrays += [self.pwl.breaks, self.pwl.slopes, self.pwl.knots]
        if self.replacement != "mean":
            digest.update(self.replacement.encode())
        for arr in arrays:
            digest.update(np.ascontiguousarray(arr).tobytes())
        return digest.hexdigest()[:16]

    @cached_property
    def kernel_gain(
        self,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float64]]:
        """(breaks, slopes, knots) for ``correct_pwl_kernel``: the one-segment case without pwl."""
        if self.pwl is not None:
            return self.pwl.breaks, self.pwl.slopes, self.pwl.knots
        h, w = self.shape
        return (
            np.empty((0, h, w), dtype=np.float32),
            np.ascontiguousarray(self.gain)[np.newaxis],
            np.empty(0, dtype=np.float64),
        )

    def validity(
        self,
        serial: str,
        mode_key: str,
        temp_c: float,
        now_utc: dt.datetime | None = None,
        rules: ValidityRules | None = None,
    ) -> Validity:
        """Whether this set fits a frame from detector ``serial`` in ``mode_key`` at ``temp_c``.

        MISMATCHED for another detector or mode (never apply); EXPIRED or
        OTHER_TEMPERATURE when the gain and defect maps are too old or were measured too
        far from ``temp_c`` (recalibrate); STALE when the dark is too old or the panel
        moved (take a fresh dark); else VALID. See :mod:`panelgate.calibration.dark`.
        """
        if serial != self.serial:
            return Validity(
                ValidityStatus.MISMATCHED,
                (f"detector {serial!r} is not the calibrated detector {self.serial!r}",),
            )
        return check_validity(
            self.mode_key,
            self.temp_c,
            self.created_utc,
            frame_mode_key=mode_key,
            frame_temp_c=temp_c,
            now_utc=now_utc,
            rules=rules,
            gain_created_utc=self.gain_utc,
            gain_temp_c=self.gain_at_temp_c,
        )

    def uncorrectable(self) -> npt.NDArray[np.bool_]:
        """Defective pixels with fewer than 5 good neighbours of 8 (ASTM E2698 relevant cluster).

        Interpolation cannot restore them faithfully; they are still filled (see the
        replacement rules) but reported, never silently smeared.
        """
        bad = self.defects != 0
        h, w = bad.shape
        padded = np.ones((h + 2, w + 2), dtype=np.int8)
        padded[1:-1, 1:-1] = bad
        good_neighbours = np.zeros((h, w), dtype=np.int8)
        for dy in range(3):
            for dx in range(3):
                if dy != 1 or dx != 1:
                    good_neighbours += 1 - padded[dy : dy + h, dx : dx + w]
        result: npt.NDArray[np.bool_] = bad & (good_neighbours < 5)
        return result

    def defect_counts(self) -> dict[str, int]:
        """Count the pixels carrying each defect flag, the total and the uncorrectable ones."""
        counts = {
            name: int(np.count_nonzero(self.defects & flag))
            for name, flag in DefectFlag.names().items()
        }
        counts["total"] = int(np.count_nonzero(self.defects))
        counts["uncorrectable"] = int(np.count_nonzero(self.uncorrectable()))
        return counts

"""A calibration set: the dark, gain and defect maps of one detector in one readout mode."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

__all__ = ["CalibrationSet", "DefectFlag"]


class DefectFlag:
    """Bit flags of :attr:`CalibrationSet.defects`; a pixel may carry several causes."""

    DEAD = 1  #: no or too little response to dose (under-responding)
    HOT = 2  #: dark level far above the panel's
    OVER = 4  #: over-responding in the flood
    NOISY = 8  #: temporal noise in darks far above the panel's


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
        When the maps were measured.
    temp_c : float
        Panel temperature during the darks, in degrees Celsius.
    n_dark, n_flood : int
        Frames averaged into the dark and flood maps.
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

    def __post_init__(self) -> None:
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

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the maps."""
        return (int(self.dark.shape[0]), int(self.dark.shape[1]))

    @cached_property
    def defect_rows_cols(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Row and column indices of every defective pixel, in raster order, C-contiguous.

        Contiguous so that the kernel's compiled signature is the one warmed at start-up
        (``np.nonzero`` returns strided views).
        """
        rows, cols = np.nonzero(self.defects)
        return np.ascontiguousarray(rows), np.ascontiguousarray(cols)

    @cached_property
    def set_id(self) -> str:
        """Content hash naming this set: the same maps and identity give the same id."""
        digest = hashlib.sha256()
        digest.update(f"{self.serial}|{self.mode_key}|{self.pedestal_counts!r}".encode())
        for arr in (self.dark, self.gain, self.defects):
            digest.update(np.ascontiguousarray(arr).tobytes())
        return digest.hexdigest()[:16]

    def defect_counts(self) -> dict[str, int]:
        """Count the pixels carrying each defect flag, and the total."""
        counts = {
            name.lower(): int(np.count_nonzero(self.defects & flag))
            for name, flag in vars(DefectFlag).items()
            if name.isupper()
        }
        counts["total"] = int(np.count_nonzero(self.defects))
        return counts

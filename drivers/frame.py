"""Frames as they leave a detector: raw counts plus the facts needed to process them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["Frame", "FrameMeta", "ReadoutMode"]


@dataclass(frozen=True)
class ReadoutMode:
    """How the panel reads out; calibration maps are only valid for the mode they were taken in.

    Parameters
    ----------
    width, height : int
        Image size in pixels after binning and ROI.
    binning : int
        Square binning factor (1 = full resolution).
    gain_mode : str
        Vendor gain/full-well mode name.
    exposure_s : float
        Integration window in seconds.
    """

    width: int
    height: int
    binning: int = 1
    gain_mode: str = "high"
    exposure_s: float = 0.1

    def __post_init__(self) -> None:
        problems = []
        if self.width <= 0 or self.height <= 0:
            problems.append(f"size must be positive, got {self.width}x{self.height}")
        if self.binning not in (1, 2, 4):
            problems.append(f"binning must be 1, 2 or 4, got {self.binning}")
        if not 0.0 < self.exposure_s <= 10.0:
            problems.append(f"exposure_s must be in (0, 10] s, got {self.exposure_s}")
        if problems:
            raise ValueError("invalid readout mode: " + "; ".join(problems))

    @property
    def key(self) -> str:
        """A stable text key naming the mode, used to match calibration sets."""
        return (
            f"{self.width}x{self.height}-bin{self.binning}-{self.gain_mode}"
            f"-{self.exposure_s * 1e3:.1f}ms"
        )


@dataclass(frozen=True)
class FrameMeta:
    """What is known about one frame when it is read out.

    Parameters
    ----------
    frame_id : int
        Detector frame counter (block id on GigE Vision / U3V).
    t_mono_s : float
        ``time.monotonic()`` when the frame was complete.
    t_utc : datetime.datetime
        Wall-clock time of the end of readout, timezone-aware UTC.
    mode : ReadoutMode
        The readout mode the frame was taken in.
    serial : str
        Detector serial number.
    temp_c : float
        Panel temperature in degrees Celsius at readout.
    model : str
        Detector model name.
    firmware : str
        Detector firmware version.
    """

    frame_id: int
    t_mono_s: float
    mode: ReadoutMode
    serial: str
    temp_c: float
    model: str = ""
    firmware: str = ""
    t_utc: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class Frame:
    """One raw frame: ``uint16`` counts of shape (height, width), owned by the receiver."""

    pixels: npt.NDArray[np.uint16]
    meta: FrameMeta

    def __post_init__(self) -> None:
        shape = (self.meta.mode.height, self.meta.mode.width)
        if self.pixels.dtype != np.uint16 or self.pixels.shape != shape:
            raise ValueError(
                f"frame pixels must be uint16 of shape {shape}, "
                f"got {self.pixels.dtype} of shape {self.pixels.shape}"
            )

"""Logarithmic transform of the corrected linear image (the first presentation stage).

A flat-panel image is linear in air kerma; its contrast is multiplicative (an object that
transmits half the beam halves the signal at any dose). In the logarithm the contrast of
an object is a difference that does not change with the exposure, so the histogram keeps
its shape and the later stages can use fixed parameters (Carestream EVP white paper: the
first stage after gain and offset; Flynn, AAPM 2006). The values are decades of detector
air kerma: ``log10((counts - pedestal) / counts_per_ugy)``, ``0`` for 1 µGy.
"""

from __future__ import annotations

from typing import Literal

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["Engine", "log_kerma", "log_lut"]

Engine = Literal["numba", "numpy"]
"""The numba kernels (fast) or the numpy oracle (the reference, for tests and benchmarks)."""

_F32 = npt.NDArray[np.float32]

FLOOR_COUNTS = 0.5
"""Signals below half a count (collimated, clipped to the pedestal) are taken as this."""


def log_lut(pedestal_counts: float, counts_per_ugy: float) -> _F32:
    """Return the 65536-entry table of :func:`log_kerma` for every uint16 value."""
    counts = np.arange(65536, dtype=np.float64) - pedestal_counts
    kerma = np.maximum(counts, FLOOR_COUNTS) / counts_per_ugy
    return np.log10(kerma).astype(np.float32)


def log_kerma(
    linear: npt.NDArray[np.uint16],
    pedestal_counts: float,
    counts_per_ugy: float,
    *,
    engine: Engine = "numba",
) -> _F32:
    """Return the decadic logarithm of the detector air kerma in µGy of every pixel.

    Parameters
    ----------
    linear : numpy.ndarray
        Offset-, gain- and defect-corrected uint16 image, linear in air kerma.
    pedestal_counts : float
        The constant the correction added (removed here), >= 0.
    counts_per_ugy : float
        The detector's response in counts per µGy (RQA5), > 0.
    engine : {"numba", "numpy"}
        The compiled kernel (a table lookup) or the numpy oracle (the formula).

    Returns
    -------
    numpy.ndarray
        float32 log10(air kerma / 1 µGy), the image's shape; signals below
        :data:`FLOOR_COUNTS` above the pedestal are taken as that floor.

    Raises
    ------
    ValueError
        Not a 2-D uint16 image, or a pedestal or response out of range.
    """
    _check(linear, pedestal_counts, counts_per_ugy)
    if engine == "numpy":
        counts = linear.astype(np.float64) - pedestal_counts
        result: _F32 = np.log10(np.maximum(counts, FLOOR_COUNTS) / counts_per_ugy).astype(
            np.float32
        )
        return result
    out = np.empty(linear.shape, dtype=np.float32)
    _lookup(linear, log_lut(pedestal_counts, counts_per_ugy), out)
    return out


def _check(linear: npt.NDArray[np.uint16], pedestal_counts: float, counts_per_ugy: float) -> None:
    if linear.ndim != 2 or linear.dtype != np.uint16:
        raise ValueError(f"need a 2-D uint16 image, got {linear.dtype} {linear.shape}")
    if not (np.isfinite(pedestal_counts) and 0 <= pedestal_counts < 65535):
        raise ValueError(f"pedestal_counts must be in [0, 65535), got {pedestal_counts!r}")
    if not (np.isfinite(counts_per_ugy) and counts_per_ugy > 0):
        raise ValueError(f"counts_per_ugy must be positive, got {counts_per_ugy!r}")


@numba.njit(nogil=True, cache=True, parallel=True)
def _lookup(  # pragma: no cover - compiled
    linear: npt.NDArray[np.uint16], lut: _F32, out: _F32
) -> None:
    h, w = linear.shape
    for y in numba.prange(h):
        for x in range(w):
            out[y, x] = lut[linear[y, x]]

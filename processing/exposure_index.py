"""Exposure Index and Deviation Index after IEC 62494-1:2008 (AAPM TG-116).

``EI = c0 · g(V)`` with ``c0 = 100 µGy⁻¹``: ``g`` turns the value of interest V back into
detector air kerma with the detector's calibrated response (RQA5, counts per µGy, after
the pedestal the correction adds is removed), so that EI 100 is 1 µGy. V is the median of
the original (linear, unprocessed) data over the relevant image region: inside the
exposure field, without direct exposure (:class:`~panelgate.processing.field.Field`).
``DI = 10 · log10(EI / EI_T)``: +1 is about 26 % more than the target, +3 twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["C0_PER_UGY", "ExposureEstimate", "deviation_index", "estimate_exposure"]

C0_PER_UGY = 100.0
"""c0 of IEC 62494-1: EI per µGy of detector air kerma."""

_STRIDE = 2  # the median of every second pixel each way: 2.4 M values at 3072²


@dataclass(frozen=True)
class ExposureEstimate:
    """The Exposure Index of one image and where it came from.

    Parameters
    ----------
    ei : float
        Exposure Index.
    value_of_interest_counts : float
        V: the median linear value of the relevant region, counts (pedestal included).
    air_kerma_ugy : float
        g(V): the detector air kerma V stands for, µGy.
    pixels : int
        How many pixels the median was taken over (every second row and column).
    """

    ei: float
    value_of_interest_counts: float
    air_kerma_ugy: float
    pixels: int


def estimate_exposure(
    linear: npt.NDArray[np.uint16],
    relevant: npt.NDArray[np.bool_],
    pedestal_counts: float,
    counts_per_ugy: float,
) -> ExposureEstimate:
    """Return the Exposure Index of ``linear`` over its relevant region.

    Raises
    ------
    ValueError
        Shapes that differ, a response that is not positive, or an empty region.
    """
    if linear.shape != relevant.shape:
        raise ValueError(f"image {linear.shape} and region {relevant.shape} differ in shape")
    if not (math.isfinite(counts_per_ugy) and counts_per_ugy > 0):
        raise ValueError(f"counts_per_ugy must be positive, got {counts_per_ugy!r}")
    values = linear[::_STRIDE, ::_STRIDE][relevant[::_STRIDE, ::_STRIDE]]
    if values.size == 0:
        values = linear[relevant]
    if values.size == 0:
        raise ValueError("the relevant region is empty: no exposure index")
    v = float(np.median(values))
    kerma = max(v - pedestal_counts, 0.5) / counts_per_ugy
    return ExposureEstimate(C0_PER_UGY * kerma, v, kerma, int(values.size))


def deviation_index(ei: float, target_ei: float) -> float:
    """DI = 10 · log10(EI / EI_T).

    Raises
    ------
    ValueError
        EI or EI_T not positive.
    """
    if not (ei > 0 and target_ei > 0):
        raise ValueError(f"EI and target EI must be positive, got {ei!r}, {target_ei!r}")
    return 10.0 * math.log10(ei / target_ei)

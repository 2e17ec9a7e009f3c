"""Public correction entry point: validates, then runs the numba kernel or the numpy oracle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt

from .calset import CalibrationSet
from .errors import CalibrationMismatch
from .kernel import correct_kernel, correct_pwl_kernel
from .reference import correct_pwl_reference, correct_reference

__all__ = ["Engine", "correct"]

Engine = Literal["numba", "numpy"]

_ENGINES: dict[str, Callable[..., None]] = {"numba": correct_kernel, "numpy": correct_reference}
_PWL_ENGINES: dict[str, Callable[..., None]] = {
    "numba": correct_pwl_kernel,
    "numpy": correct_pwl_reference,
}


def correct(
    raw: npt.NDArray[np.uint16],
    calset: CalibrationSet,
    out: npt.NDArray[np.uint16] | None = None,
    *,
    full_scale: int = 65535,
    engine: Engine = "numba",
) -> npt.NDArray[np.uint16]:
    """Apply offset, gain and defect correction to one raw frame.

    A set with a multi-point gain (``calset.pwl``) runs ``correct_pwl_kernel``, a
    single-point set ``correct_kernel``; both replace defects by the set's rule, from its
    :attr:`~CalibrationSet.defect_plan`. Formulas: :mod:`panelgate.calibration.reference`.

    Parameters
    ----------
    raw : numpy.ndarray
        uint16 raw frame of the calibration set's shape.
    calset : CalibrationSet
        Maps measured on the same detector and readout mode.
    out : numpy.ndarray, optional
        C-contiguous uint16 buffer of the same shape to write into (no allocation); a new
        array when omitted. May not be ``raw`` itself.
    full_scale : int
        Largest output value (``2**bits_stored - 1``).
    engine : {"numba", "numpy"}
        The compiled kernel, or the plain-numpy reference it is tested against.

    Returns
    -------
    numpy.ndarray
        ``out``, holding the corrected frame.

    Raises
    ------
    CalibrationMismatch
        The frame's shape or type does not fit the calibration set.
    """
    if raw.dtype != np.uint16 or raw.shape != calset.shape:
        raise CalibrationMismatch(
            f"calibration set {calset.set_id} is for uint16 frames of shape {calset.shape}; "
            f"got {raw.dtype} of shape {raw.shape}"
        )
    if out is None:
        out = np.empty_like(raw)
    elif (
        out.dtype != np.uint16
        or out.shape != raw.shape
        or not out.flags.writeable
        or not out.flags.c_contiguous
    ):
        raise ValueError(f"out must be a writeable, C-contiguous uint16 array of shape {raw.shape}")
    elif np.shares_memory(out, raw):
        raise ValueError("out must not share memory with raw: defect replacement reads neighbours")
    if not 0 < full_scale <= 65535:
        raise ValueError(f"full_scale must be in 1..65535, got {full_scale}")
    try:
        kernel = _ENGINES[engine]
    except KeyError:
        raise ValueError(f"engine must be one of {sorted(_ENGINES)}, got {engine!r}") from None
    plan = calset.defect_plan
    pedestal, top = float(calset.pedestal_counts), int(full_scale)
    if calset.pwl is not None:
        breaks, slopes, knots = calset.kernel_gain
        _PWL_ENGINES[engine](raw, calset.dark, breaks, slopes, knots, plan, pedestal, top, out)
    else:
        kernel(raw, calset.dark, np.ascontiguousarray(calset.gain), plan, pedestal, top, out)
    return out

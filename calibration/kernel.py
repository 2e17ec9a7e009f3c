"""The fused numba correction kernel (offset, gain, defect replacement).

Same formula and result as :func:`panelgate.calibration.reference.correct_reference`,
which documents it. The kernel writes into a caller-provided buffer, allocates nothing per
frame, releases the GIL so correction overlaps I/O in other threads, and is compiled and
cached on disk on first use; call :func:`warm_up` at start-up so that no patient exposure
waits for the compiler.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["correct_kernel", "warm_up"]


@numba.njit(nogil=True, parallel=True, cache=True)
def correct_kernel(  # pragma: no cover - compiled; covered under NUMBA_DISABLE_JIT=1
    raw: npt.NDArray[np.uint16],
    dark: npt.NDArray[np.float32],
    gain: npt.NDArray[np.float32],
    defects: npt.NDArray[np.uint8],
    defect_rows: npt.NDArray[np.intp],
    defect_cols: npt.NDArray[np.intp],
    pedestal: float,
    full_scale: int,
    out: npt.NDArray[np.uint16],
) -> None:
    """Correct ``raw`` into ``out`` (see the module docstring of ``reference``)."""
    h, w = raw.shape
    for y in numba.prange(h):
        for x in range(w):
            v = (float(raw[y, x]) - float(dark[y, x])) * float(gain[y, x]) + pedestal
            out[y, x] = np.uint16(min(max(np.floor(v + 0.5), 0.0), full_scale))
    # Pass 2 writes only defective pixels and reads only good ones: no race, no order.
    for i in numba.prange(defect_rows.shape[0]):
        y = defect_rows[i]
        x = defect_cols[i]
        for radius in range(1, 3):
            total = 0
            n = 0
            for yy in range(max(0, y - radius), min(h, y + radius + 1)):
                for xx in range(max(0, x - radius), min(w, x + radius + 1)):
                    if defects[yy, xx] == 0:
                        total += int(out[yy, xx])
                        n += 1
            if n > 0:
                out[y, x] = np.uint16((total + n // 2) // n)
                break


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the kernel for the types panelgate uses."""
    shape = (8, 8)
    defects = np.zeros(shape, dtype=np.uint8)
    defects[3, 3:5] = 1
    rows, cols = (np.ascontiguousarray(i) for i in np.nonzero(defects))
    correct_kernel(
        np.zeros(shape, dtype=np.uint16),
        np.zeros(shape, dtype=np.float32),
        np.ones(shape, dtype=np.float32),
        defects,
        rows,
        cols,
        100.0,
        65535,
        np.empty(shape, dtype=np.uint16),
    )

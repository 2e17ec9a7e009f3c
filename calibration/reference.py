"""Plain-numpy reference of the correction kernel: the test oracle for :mod:`.kernel`.

Per pixel, in float64::

    v   = (raw − dark) · gain + pedestal
    out = clip(floor(v + 0.5), 0, full_scale)            (round half up)

Then every defective pixel is replaced by the rounded integer mean of the corrected values
of its good neighbours in the 3 × 3 window, or, when none is good, in the 5 × 5 window;
a pixel with no good neighbour in 5 × 5 keeps its own corrected value (it is reported by
the defect statistics, never silently invented). Neighbours are read only from good pixels,
so the result does not depend on the order the defects are visited.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["correct_reference"]


def correct_reference(
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
    """Correct ``raw`` into ``out``; same signature and result as the numba kernel."""
    v = (raw.astype(np.float64) - dark.astype(np.float64)) * gain.astype(np.float64) + pedestal
    v = np.floor(v + 0.5)
    np.clip(v, 0, full_scale, out=v)
    out[...] = v.astype(np.uint16)
    h, w = raw.shape
    replaced = out.copy()
    for y, x in zip(defect_rows.tolist(), defect_cols.tolist(), strict=True):
        for radius in (1, 2):
            y0, y1 = max(0, y - radius), min(h, y + radius + 1)
            x0, x1 = max(0, x - radius), min(w, x + radius + 1)
            good = defects[y0:y1, x0:x1] == 0
            n = int(np.count_nonzero(good))
            if n:
                total = int(out[y0:y1, x0:x1][good].astype(np.int64).sum())
                replaced[y, x] = (total + n // 2) // n
                break
    out[...] = replaced

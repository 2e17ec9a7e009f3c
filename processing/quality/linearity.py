"""Response linearity: mean signal against air kerma (IEC 62220-1-1:2015, 5.3 conversion function).

A straight line fitted by least squares through the mean (dark-subtracted) signal of the
flats at each air kerma gives the slope (counts per µGy), intercept and r²; the largest
deviation of a point from the line, relative to its signal, shows where the response bends.
The fit also linearises images (:meth:`Linearity.to_kerma_ugy`), as the NNPS needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Linearity", "fit_linearity"]


@dataclass(frozen=True)
class Linearity:
    """A fitted conversion function ``signal = slope · K + intercept``.

    Attributes
    ----------
    slope_counts_per_ugy : float
        Counts per µGy of air kerma.
    intercept_counts : float
        Signal at zero kerma (after dark subtraction ideally near 0).
    r_squared : float
        Coefficient of determination of the fit.
    max_deviation_fraction : float
        Largest ``|signal − fit| / fit`` over the points with kerma > 0.
    air_kerma_ugy, signal_counts : tuple of float
        The points fitted.
    """

    slope_counts_per_ugy: float
    intercept_counts: float
    r_squared: float
    max_deviation_fraction: float
    air_kerma_ugy: tuple[float, ...]
    signal_counts: tuple[float, ...]

    def to_kerma_ugy(self, signal: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Linearise: the air kerma in µGy each (dark-subtracted) signal stands for."""
        values = np.asarray(signal, dtype=np.float64)
        result: npt.NDArray[np.float64] = (
            values - self.intercept_counts
        ) / self.slope_counts_per_ugy
        return result


def fit_linearity(air_kerma_ugy: npt.ArrayLike, signal_counts: npt.ArrayLike) -> Linearity:
    """Fit the conversion function through (kerma, mean signal) points.

    Parameters
    ----------
    air_kerma_ugy : array_like
        Air kerma at the detector of each flat, µGy (>= 0); at least two different values.
    signal_counts : array_like
        Mean dark-subtracted signal of each flat, counts.

    Raises
    ------
    ValueError
        Lengths differ, fewer than two distinct kerma values, negative kerma, or a slope
        that is not positive.
    """
    k = np.asarray(air_kerma_ugy, dtype=np.float64).ravel()
    s = np.asarray(signal_counts, dtype=np.float64).ravel()
    if k.shape != s.shape:
        raise ValueError(f"{k.size} kerma values but {s.size} signals")
    if np.unique(k).size < 2 or np.any(k < 0) or not np.all(np.isfinite(s)):
        raise ValueError("linearity needs at least two distinct kerma values >= 0 (finite signals)")
    slope, intercept = np.polyfit(k, s, 1)
    if not slope > 0:
        raise ValueError(f"the signal does not rise with kerma (slope {slope:.4g} counts/µGy)")
    fit = slope * k + intercept
    ss_res = float(np.sum((s - fit) ** 2))
    ss_tot = float(np.sum((s - s.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    lit = k > 0
    deviation = float(np.max(np.abs(s[lit] - fit[lit]) / np.abs(fit[lit]))) if lit.any() else 0.0
    return Linearity(
        float(slope), float(intercept), r2, deviation, tuple(map(float, k)), tuple(map(float, s))
    )

"""Detective quantum efficiency DQE(f) = MTF(f)² / (q · K · NNPS(f)) (IEC 62220-1-1:2015, 5.7).

``q`` is the photon fluence per µGy of the standard beam quality (IEC 62220-1-1:2015,
table 2, :data:`PHOTONS_PER_MM2_PER_UGY`), ``K`` the measured air kerma at the detector
surface in µGy, NNPS in mm² and MTF the presampling MTF, interpolated to the NNPS
frequencies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["PHOTONS_PER_MM2_PER_UGY", "Dqe", "detective_quantum_efficiency"]

PHOTONS_PER_MM2_PER_UGY = {"RQA3": 21759.0, "RQA5": 29653.0, "RQA7": 32362.0, "RQA9": 31077.0}
"""Photon fluence per unit air kerma, 1/(mm²·µGy), of the IEC 61267 beam qualities
(IEC 62220-1-1:2015 table 2; RQA5 was 30,174 in the 2003 edition)."""

_F64 = npt.NDArray[np.float64]
_ZERO_BINS = 4  # DQE(0) averages at least this many of the lowest bins (the first skipped)


@dataclass(frozen=True)
class Dqe:
    """A DQE curve.

    Attributes
    ----------
    frequency_per_mm : numpy.ndarray
        Frequencies (cycles/mm) of the NNPS profile used.
    dqe : numpy.ndarray
        DQE at those frequencies (0 at f = 0 is not measured: see ``dqe_zero``).
    dqe_zero : float
        DQE extrapolated to f = 0: the mean over the lowest tenth of the frequencies,
        the first bin above zero left out (the detrend takes power from it).
    beam_quality : str
        The IEC 61267 beam quality (RQA3, RQA5, RQA7, RQA9).
    air_kerma_ugy : float
        Air kerma of the flats.
    """

    frequency_per_mm: _F64
    dqe: _F64
    dqe_zero: float
    beam_quality: str
    air_kerma_ugy: float

    def at(self, frequency_per_mm: float | _F64) -> _F64:
        """DQE interpolated (linearly) at ``frequency_per_mm``."""
        return np.asarray(np.interp(frequency_per_mm, self.frequency_per_mm, self.dqe))


def detective_quantum_efficiency(
    mtf_frequency_per_mm: npt.ArrayLike,
    mtf: npt.ArrayLike,
    nnps_frequency_per_mm: npt.ArrayLike,
    nnps_mm2: npt.ArrayLike,
    *,
    air_kerma_ugy: float,
    beam_quality: str = "RQA5",
) -> Dqe:
    """Compute DQE(f) from a presampling MTF and an NNPS profile (IEC 62220-1-1:2015).

    Parameters
    ----------
    mtf_frequency_per_mm, mtf : array_like
        Presampling MTF and its frequencies (cycles/mm), increasing.
    nnps_frequency_per_mm, nnps_mm2 : array_like
        NNPS profile (mm²) and its frequencies (cycles/mm), the first one 0.
    air_kerma_ugy : float
        Air kerma at the detector for the flats, µGy (> 0).
    beam_quality : str
        One of :data:`PHOTONS_PER_MM2_PER_UGY`.

    Raises
    ------
    ValueError
        Unknown beam quality, kerma not positive, NNPS not positive, or mismatched arrays.
    """
    if beam_quality not in PHOTONS_PER_MM2_PER_UGY:
        raise ValueError(
            f"unknown beam quality {beam_quality!r}; known: {', '.join(PHOTONS_PER_MM2_PER_UGY)}"
        )
    if not air_kerma_ugy > 0:
        raise ValueError(f"air_kerma_ugy must be > 0, got {air_kerma_ugy}")
    f_mtf, m = np.asarray(mtf_frequency_per_mm, float), np.asarray(mtf, float)
    f_nps, nps = np.asarray(nnps_frequency_per_mm, float), np.asarray(nnps_mm2, float)
    if f_mtf.shape != m.shape or f_nps.shape != nps.shape or f_nps.size <= _ZERO_BINS:
        raise ValueError("MTF and NNPS must each come with frequencies of their own length")
    use = f_nps > 0
    if np.any(nps[use] <= 0):
        raise ValueError("NNPS must be positive at every frequency above zero")
    q = PHOTONS_PER_MM2_PER_UGY[beam_quality]
    dqe = np.zeros_like(nps)
    dqe[use] = np.interp(f_nps[use], f_mtf, m) ** 2 / (q * air_kerma_ugy * nps[use])
    beyond = f_nps > f_mtf.max()
    dqe[beyond] = np.nan
    low = dqe[use][1 : 1 + max(_ZERO_BINS, f_nps.size // 10)]
    dqe_zero = float(np.mean(low))
    return Dqe(f_nps, dqe, dqe_zero, beam_quality, float(air_kerma_ugy))

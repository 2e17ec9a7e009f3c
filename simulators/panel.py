"""A seeded, deterministic model of a flat-panel detector's physics.

The model is the ground truth that calibration is measured against: it never imports
panelgate.calibration and exposes what it simulates (offset and gain maps, the defect
map) through :meth:`PanelModel.truth`. Per pixel, one readout is::

    counts = offset + gain · k · N + read_noise,   N ~ Poisson(q · air_kerma · transmission)

rounded and clipped to the ``bits_stored`` range (saturation). ``q`` is the number of
detected quanta per µGy per pixel and ``k`` the counts per quantum; the panel-mean
response is ``k · q`` counts per µGy. For pixels that expect at least
:data:`POISSON_EXACT_BELOW` quanta the Poisson draw is replaced by its normal
approximation (mean N, variance N), folded into the read-noise draw; that keeps one
3072² frame under a quarter of a second without changing the noise statistics
measurably.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["POISSON_EXACT_BELOW", "DefectClass", "PanelModel", "PanelSpec", "PanelTruth"]

POISSON_EXACT_BELOW = 50.0
"""Expected quanta below which a pixel's quantum noise is drawn from the exact Poisson law."""


class DefectClass(enum.IntEnum):
    """Ground-truth defect classes written into :attr:`PanelTruth.defects`."""

    GOOD = 0
    DEAD = 1  #: no response to dose: reads its offset only
    HOT = 2  #: very high dark signal, reads near saturation
    LINE = 3  #: part of a defective column: random output


@dataclass(frozen=True)
class PanelSpec:
    """Physical parameters of a simulated panel; defaults resemble a 43 cm CsI panel.

    Parameters
    ----------
    width, height : int
        Matrix in pixels.
    pixel_pitch_mm : float
        Pixel pitch in millimetres.
    bits_stored : int
        ADC depth; output saturates at ``2**bits_stored - 1``.
    offset_counts, offset_fpn_counts : float
        Mean dark level and its pixel-to-pixel spread (fixed-pattern noise).
    gain_fpn : float
        Relative pixel-to-pixel gain spread (0.05 = 5 %).
    read_noise_counts : float
        Temporal read noise, one standard deviation, in counts.
    quanta_per_ugy : float
        Detected X-ray quanta per pixel per µGy of air kerma.
    counts_per_ugy : float
        Panel-mean signal per µGy.
    defect_fraction : float
        Fraction of isolated defective pixels (half dead, half hot).
    line_defects : int
        Number of partial defective columns.
    serial, model : str
        Identity the simulated detector reports.
    """

    width: int = 3072
    height: int = 3072
    pixel_pitch_mm: float = 0.139
    bits_stored: int = 16
    offset_counts: float = 1000.0
    offset_fpn_counts: float = 40.0
    gain_fpn: float = 0.05
    read_noise_counts: float = 4.0
    quanta_per_ugy: float = 300.0
    counts_per_ugy: float = 2000.0
    defect_fraction: float = 5e-4
    line_defects: int = 1
    serial: str = "SIM-0001"
    model: str = "PG-SIM 4343"

    def __post_init__(self) -> None:
        if not (32 <= self.width <= 8192 and 32 <= self.height <= 8192):
            raise ValueError(
                f"panel size must be 32..8192 px per side, got {self.width}x{self.height}"
            )
        if self.bits_stored not in (14, 16):
            raise ValueError(f"bits_stored must be 14 or 16, got {self.bits_stored}")
        if not 0.0 <= self.defect_fraction < 0.05:
            raise ValueError(f"defect_fraction must be in [0, 0.05), got {self.defect_fraction}")

    @property
    def full_scale(self) -> int:
        """Largest value the ADC can output."""
        return int(2**self.bits_stored - 1)


@dataclass(frozen=True)
class PanelTruth:
    """What the simulator knows and calibration must discover."""

    offset: npt.NDArray[np.float32]
    gain: npt.NDArray[np.float32]
    defects: npt.NDArray[np.uint8]


class PanelModel:
    """Generates raw frames for a panel; the same seed always gives the same panel and noise.

    Parameters
    ----------
    spec : PanelSpec
        Physical parameters.
    seed : int
        Seed for the fixed pattern (offset, gain, defects) and for the noise stream.
    """

    def __init__(self, spec: PanelSpec, seed: int = 0) -> None:
        self.spec = spec
        pattern_rng = np.random.default_rng([seed, 0])
        self._noise_rng = np.random.default_rng([seed, 1])
        self._truth = self._make_truth(pattern_rng)

    def truth(self) -> PanelTruth:
        """Return read-only views of the ground-truth maps."""
        return self._truth

    def read(
        self, air_kerma_ugy: float = 0.0, transmission: npt.NDArray[np.float32] | None = None
    ) -> npt.NDArray[np.uint16]:
        """Simulate one readout after an exposure.

        Parameters
        ----------
        air_kerma_ugy : float
            Air kerma at the detector surface in µGy for an open beam; 0 gives a dark frame.
        transmission : numpy.ndarray, optional
            Phantom transmission map (0..1) of the panel's shape; open beam when omitted.

        Returns
        -------
        numpy.ndarray
            uint16 counts of shape (height, width).
        """
        spec, truth, rng = self.spec, self._truth, self._noise_rng
        if air_kerma_ugy < 0:
            raise ValueError(f"air_kerma_ugy must be >= 0, got {air_kerma_ugy}")
        shape = (spec.height, spec.width)
        noise = rng.standard_normal(shape, dtype=np.float32)
        counts_per_quantum = np.float32(spec.counts_per_ugy / spec.quanta_per_ugy)
        if air_kerma_ugy > 0:
            quanta = np.full(shape, air_kerma_ugy * spec.quanta_per_ugy, dtype=np.float32)
            if transmission is not None:
                if transmission.shape != shape:
                    raise ValueError(
                        f"transmission must have shape {shape}, got {transmission.shape}"
                    )
                quanta *= transmission
            gain_k = truth.gain * counts_per_quantum
            # Quantum and read noise in one normal draw: var = (g k)^2 N + sigma_r^2.
            sigma = np.sqrt(gain_k * gain_k * quanta + np.float32(spec.read_noise_counts**2))
            signal = gain_k * quanta
            signal += sigma * noise
            low = quanta < POISSON_EXACT_BELOW
            if low.any():
                exact = rng.poisson(quanta[low]).astype(np.float32)
                read = rng.standard_normal(exact.size, dtype=np.float32) * spec.read_noise_counts
                signal[low] = gain_k[low] * exact + read
            signal[truth.defects == DefectClass.DEAD] = 0.0
            counts = truth.offset + signal
        else:
            counts = truth.offset + np.float32(spec.read_noise_counts) * noise
        line = truth.defects == DefectClass.LINE
        counts[line] = rng.uniform(0, spec.full_scale, int(line.sum())).astype(np.float32)
        np.rint(counts, out=counts)
        np.clip(counts, 0, spec.full_scale, out=counts)
        return counts.astype(np.uint16)

    def _make_truth(self, rng: np.random.Generator) -> PanelTruth:
        spec = self.spec
        h, w = spec.height, spec.width
        # Offset: pixel FPN plus row and column structure from the readout electronics.
        offset = rng.normal(spec.offset_counts, spec.offset_fpn_counts, (h, w)).astype(np.float32)
        offset += rng.normal(0, spec.offset_fpn_counts / 4, (h, 1)).astype(np.float32)
        offset += rng.normal(0, spec.offset_fpn_counts / 4, (1, w)).astype(np.float32)
        # Gain: pixel FPN on a gentle large-scale shading (scintillator and heel effect).
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        shading = 1.0 - 0.08 * ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2)
        gain = (shading * rng.normal(1.0, spec.gain_fpn, (h, w))).astype(np.float32)
        gain /= np.float32(gain.mean())

        defects = np.zeros((h, w), dtype=np.uint8)
        n_isolated = round(spec.defect_fraction * h * w)
        picks = rng.choice(h * w, size=n_isolated, replace=False)
        defects.flat[picks[: n_isolated // 2]] = DefectClass.DEAD
        defects.flat[picks[n_isolated // 2 :]] = DefectClass.HOT
        offset.flat[picks[n_isolated // 2 :]] = spec.full_scale * 0.9
        for _ in range(spec.line_defects):
            col = int(rng.integers(w // 8, w - w // 8))
            start = int(rng.integers(0, h // 2))
            defects[start : start + h // 3, col] = DefectClass.LINE
        for arr in (offset, gain, defects):
            arr.flags.writeable = False
        return PanelTruth(offset=offset, gain=gain, defects=defects)

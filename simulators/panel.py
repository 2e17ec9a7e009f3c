"""A seeded, deterministic model of a flat-panel detector's physics.

The model is the ground truth that calibration is measured against: it never imports
panelgate.calibration and exposes what it simulates (offset, drift, gain, non-linearity,
lag and the defect class map) through :meth:`PanelModel.truth`. Per pixel, one readout is::

    counts = offset + drift · (T − T_ref)                           dark level at temp_c = T
           + g · k · N · (1 + a · N / N_ref)                         signal (a = non-linearity)
           + lag · S_prev                                           lag of the previous signal
           + sqrt((g·k)² · N + σ_r²) · z                             quantum + read noise
    N ~ Poisson(q · air_kerma · transmission)

rounded and clipped to the ``bits_stored`` range (saturation). ``q`` is the number of
detected quanta per µGy per pixel and ``k`` the counts per quantum; the panel-mean
response is ``k · q`` counts per µGy. ``S_prev`` is the noiseless signal of the previous
readout (one-frame lag, the first-frame lag of a-Si panels, Siewerdsen & Jaffray 1999).

``q`` is the number of quanta the beam brings to a pixel per µGy (the photon fluence per
µGy of the beam quality, IEC 62220-1-1:2015 table 2, RQA5 29,653 per mm², times the
pixel area) times the quantum efficiency QE: ``quantum_efficiency`` of the spec.

Blur (``mtf_sigma_px`` > 0): the light spread of the scintillator (charge sharing)
spreads every detected quantum over its neighbours with a separable Gaussian kernel of
σ pixels sampled on the pixel grid (:func:`blur_kernel`). It acts on the detected quanta,
noise included, before the gain, so the quantum noise is correlated by it and the read
noise is not. The presampling MTF is then known exactly (:func:`presampling_mtf_truth`:
the pixel aperture's sinc times the kernel's transfer), and so are the NNPS
(:func:`nnps_truth`) and DQE(0) (:func:`dqe_zero_truth`) of the model.
For pixels that expect at least :data:`POISSON_EXACT_BELOW` quanta the Poisson draw is
replaced by its normal approximation (mean N, variance N), folded into the read-noise
draw ``z``; that keeps one 3072² frame near a quarter of a second (one fused numba pass)
without changing the noise statistics measurably.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, fields
from pathlib import Path

import numba
import numpy as np
import numpy.typing as npt

__all__ = [
    "POISSON_EXACT_BELOW",
    "DefectClass",
    "PanelModel",
    "PanelSpec",
    "PanelTruth",
    "blur_kernel",
    "dqe_zero_truth",
    "nnps_truth",
    "presampling_mtf_truth",
]

POISSON_EXACT_BELOW = 50.0
"""Expected quanta below which a pixel's quantum noise is drawn from the exact Poisson law."""

_F32 = npt.NDArray[np.float32]


class DefectClass(enum.IntEnum):
    """Ground-truth defect classes written into :attr:`PanelTruth.defects` (one per pixel)."""

    GOOD = 0
    DEAD = 1  #: no response to dose: reads its offset only
    HOT = 2  #: very high dark signal, reads near saturation
    LINE = 3  #: part of a partial defective row or column: random output
    NOISY = 4  #: temporal noise many times the panel's read noise
    CLUSTER = 5  #: part of a blob (3×3 and larger) of under-responding pixels (gain 0.2)
    NONLINEAR = 6  #: strongly non-linear response (|a| ≥ 0.1), linear at low dose
    LAG = 7  #: carries ~30 % of the previous frame's signal into the next


@dataclass(frozen=True)
class PanelSpec:
    """Physical parameters of a simulated panel; defaults resemble a 43 cm CsI panel.

    Parameters
    ----------
    width, height : int
        Matrix in pixels (3072 × 3072 by default; 2880 × 2880 and 3072 × 3888 are the
        other common formats).
    pixel_pitch_mm : float
        Pixel pitch in millimetres.
    bits_stored : int
        ADC depth; output saturates at ``2**bits_stored - 1``.
    offset_counts, offset_fpn_counts : float
        Mean dark level and its pixel-to-pixel spread (fixed-pattern noise); a quarter of
        the spread again is row and column structure.
    drift_counts_per_c : float
        Mean dark-level drift in counts per °C away from ``temp_ref_c`` (per pixel, ±25 %).
    temp_ref_c : float
        Panel temperature at which the offset equals :attr:`PanelTruth.offset`.
    gain_fpn : float
        Relative pixel-to-pixel gain spread (0.05 = 5 %).
    tile_rows, tile_cols : int
        Readout tiles (gate drivers × readout ASICs); each has its own gain.
    tile_gain_spread : float
        Relative spread of the tile gains, visible as seams.
    read_noise_counts : float
        Temporal read noise, one standard deviation, in counts.
    quanta_per_ugy : float
        Detected X-ray quanta per pixel per µGy of air kerma.
    counts_per_ugy : float
        Panel-mean signal per µGy.
    defect_fraction : float
        Fraction of isolated dead and hot pixels (half each).
    line_defects, row_line_defects : int
        Partial defective columns and rows (a third of the panel long).
    noisy_fraction : float
        Fraction of noisy pixels (10–30 × the read noise).
    clusters : int
        Blobs of under-responding pixels, 3×3 to 6×6.
    nonlinear_fraction : float
        Fraction of strongly non-linear pixels (|a| between 0.1 and 0.3).
    nonlinearity_sigma : float
        Spread of ``a`` over every other pixel (mild, dense non-linearity).
    nonlinear_ref_ugy : float
        Air kerma ``N_ref / q`` of the non-linearity law.
    lag_fraction : float
        Fraction of the previous frame's signal read out again in the next one.
    lag_pixel_fraction : float
        Fraction of pixels whose lag is ``lag_pixel_lag`` instead.
    lag_pixel_lag : float
        Lag of those pixels.
    mtf_sigma_px : float
        σ in pixels of the scintillator's Gaussian light spread (0: none, white noise;
        about 0.6 for a CsI panel), 0 to 3.
    beam_quanta_per_mm2_ugy : float
        Photon fluence per µGy of the beam quality the panel is exposed to (RQA5:
        29,653, IEC 62220-1-1:2015); with the pitch it sets the quantum efficiency.
    serial, model : str
        Identity the simulated detector reports.
    """

    width: int = 3072
    height: int = 3072
    pixel_pitch_mm: float = 0.139
    bits_stored: int = 16
    offset_counts: float = 1000.0
    offset_fpn_counts: float = 40.0
    drift_counts_per_c: float = 3.0
    temp_ref_c: float = 31.5
    gain_fpn: float = 0.05
    tile_rows: int = 2
    tile_cols: int = 12
    tile_gain_spread: float = 0.02
    read_noise_counts: float = 4.0
    quanta_per_ugy: float = 300.0
    counts_per_ugy: float = 2000.0
    defect_fraction: float = 5e-4
    line_defects: int = 1
    row_line_defects: int = 1
    noisy_fraction: float = 2e-4
    clusters: int = 2
    nonlinear_fraction: float = 2e-4
    nonlinearity_sigma: float = 0.002
    nonlinear_ref_ugy: float = 10.0
    lag_fraction: float = 0.02
    lag_pixel_fraction: float = 2e-4
    lag_pixel_lag: float = 0.3
    mtf_sigma_px: float = 0.0
    beam_quanta_per_mm2_ugy: float = 29653.0
    serial: str = "SIM-0001"
    model: str = "PG-SIM 4343"

    def __post_init__(self) -> None:
        problems = []
        if not (32 <= self.width <= 8192 and 32 <= self.height <= 8192):
            problems.append(
                f"panel size must be 32..8192 px per side, got {self.width}x{self.height}"
            )
        if self.bits_stored not in (14, 16):
            problems.append(f"bits_stored must be 14 or 16, got {self.bits_stored}")
        for name in ("defect_fraction", "noisy_fraction", "nonlinear_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 0.05:
                problems.append(f"{name} must be in [0, 0.05), got {value}")
        if not 0.0 <= self.lag_fraction < 1.0 or not 0.0 <= self.lag_pixel_lag < 1.0:
            problems.append("lag_fraction and lag_pixel_lag must be in [0, 1)")
        if self.tile_rows < 1 or self.tile_cols < 1:
            problems.append(f"tiles must be >= 1, got {self.tile_rows}x{self.tile_cols}")
        if min(self.line_defects, self.row_line_defects, self.clusters) < 0:
            problems.append("line_defects, row_line_defects and clusters must be >= 0")
        if not 0.0 <= self.mtf_sigma_px <= 3.0:
            problems.append(f"mtf_sigma_px must be in [0, 3], got {self.mtf_sigma_px}")
        if not 0.0 < self.quantum_efficiency <= 1.0:
            problems.append(
                f"quanta_per_ugy {self.quanta_per_ugy} is more than the beam brings to a "
                f"pixel ({self.beam_quanta_per_mm2_ugy} per mm² per µGy at "
                f"{self.pixel_pitch_mm} mm): quantum efficiency {self.quantum_efficiency:.3f}"
            )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def quantum_efficiency(self) -> float:
        """Detected over incident quanta: ``quanta_per_ugy / (q_beam · pitch²)``."""
        return self.quanta_per_ugy / (self.beam_quanta_per_mm2_ugy * self.pixel_pitch_mm**2)

    @property
    def full_scale(self) -> int:
        """Largest value the ADC can output."""
        return int(2**self.bits_stored - 1)


@dataclass(frozen=True)
class PanelTruth:
    """What the simulator knows and calibration must discover (read-only maps).

    ``offset`` is the dark level at ``temp_ref_c``; ``drift`` its change per °C; ``gain``
    the relative linear gain (mean 1); ``nonlinearity`` the per-pixel ``a``; ``lag`` the
    per-pixel lag fraction; ``read_noise`` the per-pixel read-noise σ in counts;
    ``defects`` one :class:`DefectClass` per pixel.
    """

    offset: _F32
    gain: _F32
    defects: npt.NDArray[np.uint8]
    drift: _F32 | None = None
    nonlinearity: _F32 | None = None
    lag: _F32 | None = None
    read_noise: _F32 | None = None
    temp_ref_c: float = 31.5

    def offset_at(self, temp_c: float) -> _F32:
        """Dark level in counts at panel temperature ``temp_c`` (°C)."""
        if self.drift is None:
            return self.offset.copy()
        return (self.offset + self.drift * np.float32(temp_c - self.temp_ref_c)).astype(np.float32)

    def save(self, directory: Path) -> list[Path]:
        """Export every map as ``<name>.npy`` plus ``classes.json`` naming the defect classes.

        Returns
        -------
        list of pathlib.Path
            The files written.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                path = directory / f"{f.name}.npy"
                np.save(path, value)
                written.append(path)
        meta = {
            "defect_classes": {c.name: int(c) for c in DefectClass},
            "temp_ref_c": self.temp_ref_c,
        }
        path = directory / "classes.json"
        path.write_text(json.dumps(meta, indent=2) + "\n")
        written.append(path)
        return written


@numba.njit(nogil=True, parallel=True, cache=True)
def _readout(  # noqa: PLR0917  # pragma: no cover - compiled, positional by design
    offset: _F32,
    drift: _F32,
    delta_c: float,
    gain_k: _F32,
    nonlin: _F32,
    lag: _F32,
    read_sigma: _F32,
    quanta0: float,
    inv_ref: float,
    transmission: _F32,
    use_t: bool,
    noise: _F32,
    prev: _F32,
    full_scale: float,
    out: npt.NDArray[np.uint16],
) -> None:
    h, w = out.shape
    for y in numba.prange(h):
        for x in range(w):
            n = quanta0 * transmission[y, x] if use_t else quanta0
            gk = gain_k[y, x]
            s = gk * n * (1.0 + nonlin[y, x] * n * inv_ref)
            rs = read_sigma[y, x]
            v = offset[y, x] + drift[y, x] * delta_c + s + lag[y, x] * prev[y, x]
            v += np.sqrt(gk * gk * n + rs * rs) * noise[y, x]
            prev[y, x] = s
            out[y, x] = np.uint16(min(max(np.floor(v + 0.5), 0.0), full_scale))


class PanelModel:
    """Generates raw frames for a panel; the same seed always gives the same panel and noise.

    The model keeps one frame of state (the previous signal, for lag), so the frames
    depend on the order of calls, deterministically.

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
        self._truth = t = _make_truth(spec, pattern_rng)
        zeros = np.zeros((spec.height, spec.width), dtype=np.float32)
        self._drift = zeros if t.drift is None else t.drift
        self._nonlin = zeros if t.nonlinearity is None else t.nonlinearity
        self._lag = zeros if t.lag is None else t.lag
        self._read_noise = (
            np.full_like(zeros, spec.read_noise_counts) if t.read_noise is None else t.read_noise
        )
        k = spec.counts_per_ugy / spec.quanta_per_ugy
        self._gain_k = (t.gain * np.float32(k)).astype(np.float32)
        self._gain_k[t.defects == DefectClass.DEAD] = 0.0
        self._prev = np.zeros((spec.height, spec.width), dtype=np.float32)
        self._ones = np.ones((1, 1), dtype=np.float32)
        self._line = np.flatnonzero(t.defects == DefectClass.LINE)

    def truth(self) -> PanelTruth:
        """Return read-only views of the ground-truth maps."""
        return self._truth

    def read(
        self,
        air_kerma_ugy: float = 0.0,
        transmission: npt.NDArray[np.float32] | None = None,
        *,
        temp_c: float | None = None,
    ) -> npt.NDArray[np.uint16]:
        """Simulate one readout after an exposure.

        Parameters
        ----------
        air_kerma_ugy : float
            Air kerma at the detector surface in µGy for an open beam; 0 gives a dark frame.
        transmission : numpy.ndarray, optional
            Phantom transmission map (0..1) of the panel's shape; open beam when omitted.
        temp_c : float, optional
            Panel temperature in °C (offset drift); ``spec.temp_ref_c`` when omitted.

        Returns
        -------
        numpy.ndarray
            uint16 counts of shape (height, width).
        """
        spec, t, rng = self.spec, self._truth, self._noise_rng
        if not air_kerma_ugy >= 0:
            raise ValueError(f"air_kerma_ugy must be >= 0, got {air_kerma_ugy}")
        shape = (spec.height, spec.width)
        if transmission is not None and transmission.shape != shape:
            raise ValueError(f"transmission must have shape {shape}, got {transmission.shape}")
        if spec.mtf_sigma_px > 0:
            return self._read_blurred(air_kerma_ugy, transmission, temp_c)
        noise = rng.standard_normal(shape, dtype=np.float32)
        quanta0 = float(air_kerma_ugy * spec.quanta_per_ugy)
        trans = (
            np.ascontiguousarray(transmission, dtype=np.float32)
            if transmission is not None
            else self._ones
        )
        delta_c = 0.0 if temp_c is None else float(temp_c - spec.temp_ref_c)
        inv_ref = 1.0 / (spec.nonlinear_ref_ugy * spec.quanta_per_ugy)
        out = np.empty(shape, dtype=np.uint16)
        min_t = 1.0 if transmission is None else float(transmission.min())
        has_low = 0 < quanta0 * min_t < POISSON_EXACT_BELOW or (0 < quanta0 and min_t <= 0)
        prev = self._prev.copy() if has_low else self._prev
        _readout(
            t.offset, self._drift, delta_c, self._gain_k, self._nonlin, self._lag, self._read_noise,
            quanta0, inv_ref, trans, transmission is not None, noise, self._prev,
            float(spec.full_scale), out,
        )  # fmt: skip
        if has_low:
            self._exact_low_dose(
                out, quanta0, transmission=transmission, prev=prev, delta_c=delta_c, inv_ref=inv_ref
            )
        if self._line.size:
            out.flat[self._line] = rng.integers(0, spec.full_scale + 1, self._line.size)
        return out

    def _read_blurred(
        self,
        air_kerma_ugy: float,
        transmission: npt.NDArray[np.float32] | None,
        temp_c: float | None,
    ) -> npt.NDArray[np.uint16]:
        """Read one frame of a panel with light spread: noisy quanta, blurred, then gain."""
        spec, t, rng = self.spec, self._truth, self._noise_rng
        shape = (spec.height, spec.width)
        quanta0 = float(air_kerma_ugy * spec.quanta_per_ugy)
        expected: _F32 = np.full(shape, quanta0, dtype=np.float32)
        if transmission is not None:
            expected *= np.clip(transmission, 0.0, None)
        quanta: _F32 = (
            expected + np.sqrt(expected) * rng.standard_normal(shape, dtype=np.float32)
        ).astype(np.float32)
        low = np.flatnonzero(expected < POISSON_EXACT_BELOW)
        if low.size:
            quanta.flat[low] = rng.poisson(expected.flat[low].astype(np.float64))
        np.maximum(quanta, 0.0, out=quanta)
        blurred: _F32 = np.empty_like(quanta)
        _blur_separable(quanta, blur_kernel(spec.mtf_sigma_px).astype(np.float32), blurred)
        delta_c = 0.0 if temp_c is None else float(temp_c - spec.temp_ref_c)
        out = np.empty(shape, dtype=np.uint16)
        _readout_quanta(
            t.offset, self._drift, delta_c, self._gain_k, self._nonlin, self._lag, self._read_noise,
            blurred, 1.0 / (spec.nonlinear_ref_ugy * spec.quanta_per_ugy),
            rng.standard_normal(shape, dtype=np.float32), self._prev, float(spec.full_scale), out,
        )  # fmt: skip
        if self._line.size:
            out.flat[self._line] = rng.integers(0, spec.full_scale + 1, self._line.size)
        return out

    def _exact_low_dose(
        self,
        out: npt.NDArray[np.uint16],
        quanta0: float,
        *,
        transmission: _F32 | None,
        prev: _F32,
        delta_c: float,
        inv_ref: float,
    ) -> None:
        """Redraw pixels expecting fewer than POISSON_EXACT_BELOW quanta from the exact law."""
        if transmission is None:
            if quanta0 >= POISSON_EXACT_BELOW:
                return
            low = np.arange(out.size)
            quanta = np.full(out.size, quanta0, dtype=np.float64)
        else:
            flat_t = transmission.ravel()
            low = np.flatnonzero(flat_t * quanta0 < POISSON_EXACT_BELOW)
            if low.size == 0:
                return
            quanta = flat_t[low].astype(np.float64) * quanta0
        rng, spec = self._noise_rng, self.spec
        exact = rng.poisson(quanta).astype(np.float64)
        read = rng.standard_normal(low.size) * self._read_noise.ravel()[low]
        gk = self._gain_k.ravel()[low].astype(np.float64)
        signal = gk * exact * (1.0 + self._nonlin.ravel()[low] * quanta * inv_ref)
        v = self._truth.offset.ravel()[low] + self._drift.ravel()[low] * delta_c + signal + read
        v += self._lag.ravel()[low] * prev.ravel()[low]
        out.flat[low] = np.clip(np.floor(v + 0.5), 0, spec.full_scale).astype(np.uint16)


@numba.njit(nogil=True, parallel=True, cache=True)
def _readout_quanta(  # noqa: PLR0917  # pragma: no cover - compiled, positional by design
    offset: _F32,
    drift: _F32,
    delta_c: float,
    gain_k: _F32,
    nonlin: _F32,
    lag: _F32,
    read_sigma: _F32,
    quanta: _F32,
    inv_ref: float,
    noise: _F32,
    prev: _F32,
    full_scale: float,
    out: npt.NDArray[np.uint16],
) -> None:
    h, w = out.shape
    for y in numba.prange(h):
        for x in range(w):
            n = quanta[y, x]
            s = gain_k[y, x] * n * (1.0 + nonlin[y, x] * n * inv_ref)
            v = offset[y, x] + drift[y, x] * delta_c + s + lag[y, x] * prev[y, x]
            v += read_sigma[y, x] * noise[y, x]
            prev[y, x] = s
            out[y, x] = np.uint16(min(max(np.floor(v + 0.5), 0.0), full_scale))


@numba.njit(nogil=True, cache=True, inline="always")
def _reflect(i: int, n: int) -> int:  # pragma: no cover - compiled
    i = abs(i)
    return 2 * n - 2 - i if i >= n else i


@numba.njit(nogil=True, parallel=True, cache=True)
def _blur_separable(  # pragma: no cover - compiled
    image: _F32, kernel: _F32, out: _F32
) -> None:
    """Convolve rows then columns with ``kernel`` (odd length); edges mirror (reflect).

    Each tap is one pass over a whole row (contiguous, vectorised); only the ``r``
    pixels at each end of a row, and the ``r`` rows at each end, look up mirrored indices.
    """
    h, w = image.shape
    r = kernel.size // 2
    tmp = np.zeros_like(image)
    for y in numba.prange(h):
        src, dst = image[y], tmp[y]
        for k in range(-r, r + 1):
            c = kernel[k + r]
            for x in range(r, w - r):
                dst[x] += c * src[x + k]
        for x in list(range(min(r, w))) + list(range(max(w - r, r), w)):
            acc = 0.0
            for k in range(-r, r + 1):
                acc += kernel[k + r] * src[_reflect(x + k, w)]
            dst[x] = acc
    for y in numba.prange(h):
        dst = out[y]
        dst[:] = 0.0
        for k in range(-r, r + 1):
            c = kernel[k + r]
            src = tmp[_reflect(y + k, h)]
            for x in range(w):
                dst[x] += c * src[x]


def blur_kernel(sigma_px: float) -> npt.NDArray[np.float64]:
    """Return the 1-D light-spread kernel: a Gaussian of σ pixels sampled on the grid, sum 1.

    Its half length is ``ceil(4σ)`` pixels; σ = 0 gives the identity ``[1.0]``.
    """
    if not 0.0 <= sigma_px <= 3.0:
        raise ValueError(f"sigma_px must be in [0, 3], got {sigma_px}")
    if sigma_px == 0:
        return np.ones(1)
    half = int(np.ceil(4.0 * sigma_px))
    taps = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma_px) ** 2)
    kernel: npt.NDArray[np.float64] = taps / taps.sum()
    return kernel


def _kernel_transfer(sigma_px: float, f_per_px: npt.ArrayLike) -> npt.NDArray[np.float64]:
    kernel = blur_kernel(sigma_px)
    half = kernel.size // 2
    f = np.asarray(f_per_px, dtype=np.float64)
    lags = np.arange(-half, half + 1)
    transfer: npt.NDArray[np.float64] = np.cos(2 * np.pi * f[..., None] * lags) @ kernel
    return transfer


def presampling_mtf_truth(spec: PanelSpec, f_per_px: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return the model's presampling MTF along a pixel axis (IEC 62220-1-1 definition).

    The pixel aperture ``|sinc(f)|`` times the transfer of the light-spread kernel,
    ``H(f) = Σ h[n] cos(2π f n)``; for an unblurred panel just ``|sinc(f)|``.

    Parameters
    ----------
    spec : PanelSpec
        The panel (its ``mtf_sigma_px``).
    f_per_px : array_like
        Spatial frequency in cycles per pixel.
    """
    f = np.asarray(f_per_px, dtype=np.float64)
    mtf: npt.NDArray[np.float64] = np.abs(np.sinc(f) * _kernel_transfer(spec.mtf_sigma_px, f))
    return mtf


def nnps_truth(
    spec: PanelSpec,
    air_kerma_ugy: float,
    fx_per_px: npt.ArrayLike = 0.0,
    fy_per_px: npt.ArrayLike = 0.0,
) -> npt.NDArray[np.float64]:
    """Return the model's normalised noise power spectrum in mm² (good pixels, gain 1).

    ``NNPS = (k²·N·H²(fx)·H²(fy) + σ_r²)·Δx·Δy / (k·N)²`` with ``N`` the detected quanta
    per pixel, ``k`` the counts per quantum, ``H`` the light-spread transfer and σ_r
    the read noise: flat, σ²·Δx·Δy/mean², for an unblurred panel (IEC 62220-1-1:2015).
    """
    if not air_kerma_ugy > 0:
        raise ValueError(f"air_kerma_ugy must be > 0, got {air_kerma_ugy}")
    n = air_kerma_ugy * spec.quanta_per_ugy
    k = spec.counts_per_ugy / spec.quanta_per_ugy
    h2 = (
        _kernel_transfer(spec.mtf_sigma_px, fx_per_px)
        * _kernel_transfer(spec.mtf_sigma_px, fy_per_px)
    ) ** 2
    nps = (k * k * n * h2 + spec.read_noise_counts**2) * spec.pixel_pitch_mm**2
    result: npt.NDArray[np.float64] = nps / (k * n) ** 2
    return result


def dqe_zero_truth(spec: PanelSpec, air_kerma_ugy: float) -> float:
    """Return the model's DQE(0) at ``air_kerma_ugy``: QE reduced by the read noise.

    ``DQE(0) = QE · N / (N + σ_r²/k²)`` (``N`` detected quanta per pixel, ``k`` counts per
    quantum): the quantum efficiency itself once the quanta outnumber the read noise.
    """
    n = air_kerma_ugy * spec.quanta_per_ugy
    k = spec.counts_per_ugy / spec.quanta_per_ugy
    return spec.quantum_efficiency * n / (n + spec.read_noise_counts**2 / k**2)


def _make_truth(spec: PanelSpec, rng: np.random.Generator) -> PanelTruth:
    """Draw the panel's fixed pattern; the order of draws is part of the seed's meaning.

    Written for speed (it is part of every start of a station on a simulated panel) but
    bit for bit the panel it always was: the same draws in the same order, the same
    float32/float64 arithmetic per pixel, only without full-size temporaries (the
    shading from a row and a column, the tile gains per tile block).
    """
    h, w = spec.height, spec.width
    # Offset: pixel FPN plus row and column structure from the readout electronics.
    offset = rng.normal(spec.offset_counts, spec.offset_fpn_counts, (h, w)).astype(np.float32)
    offset += rng.normal(0, spec.offset_fpn_counts / 4, (h, 1)).astype(np.float32)
    offset += rng.normal(0, spec.offset_fpn_counts / 4, (1, w)).astype(np.float32)
    # Gain: pixel FPN on a gentle large-scale shading (scintillator and heel effect).
    xx = np.arange(w, dtype=np.float32)[np.newaxis, :]
    yy = np.arange(h, dtype=np.float32)[:, np.newaxis]
    shading = 1.0 - 0.08 * ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2)
    pixel_gain = rng.normal(1.0, spec.gain_fpn, (h, w))
    gain = np.multiply(shading, pixel_gain, out=pixel_gain).astype(np.float32)
    del pixel_gain
    # Readout tiles: one gain per (gate-driver band × readout ASIC), visible as seams.
    tiles = rng.normal(1.0, spec.tile_gain_spread, (spec.tile_rows, spec.tile_cols))
    _apply_tiles(gain, tiles.astype(np.float32))
    gain /= np.float32(gain.mean())
    spread = rng.uniform(0.75, 1.25, (h, w))
    drift = np.multiply(spec.drift_counts_per_c, spread, out=spread).astype(np.float32)
    del spread
    drift += (spec.drift_counts_per_c * rng.normal(0, 0.1, (1, w))).astype(np.float32)
    nonlin = rng.normal(0.0, spec.nonlinearity_sigma, (h, w)).astype(np.float32)
    lag = np.full((h, w), spec.lag_fraction, dtype=np.float32)
    read_noise = np.full((h, w), spec.read_noise_counts, dtype=np.float32)
    defects = np.zeros((h, w), dtype=np.uint8)
    _place_defects(spec, rng, defects, offset, gain, nonlin, lag, read_noise)

    maps = (offset, gain, defects, drift, nonlin, lag, read_noise)
    for arr in maps:
        arr.flags.writeable = False
    return PanelTruth(
        offset=offset,
        gain=gain,
        defects=defects,
        drift=drift,
        nonlinearity=nonlin,
        lag=lag,
        read_noise=read_noise,
        temp_ref_c=spec.temp_ref_c,
    )


def _apply_tiles(gain: _F32, tiles: _F32) -> None:
    """Multiply each readout tile's block of ``gain`` by its float32 tile gain, in place.

    Row ``y`` belongs to tile row ``min(y · rows // h, rows − 1)`` (columns alike); the
    blocks are contiguous because that index never decreases.
    """
    h, w = gain.shape
    rows, cols = tiles.shape
    tile_y = np.minimum(np.arange(h) * rows // h, rows - 1)
    tile_x = np.minimum(np.arange(w) * cols // w, cols - 1)
    y_edges = np.searchsorted(tile_y, np.arange(rows + 1))
    x_edges = np.searchsorted(tile_x, np.arange(cols + 1))
    for r in range(rows):
        for c in range(cols):
            gain[y_edges[r] : y_edges[r + 1], x_edges[c] : x_edges[c + 1]] *= tiles[r, c]


def _place_defects(  # noqa: PLR0917 - the maps it marks
    spec: PanelSpec,
    rng: np.random.Generator,
    defects: npt.NDArray[np.uint8],
    offset: _F32,
    gain: _F32,
    nonlin: _F32,
    lag: _F32,
    read_noise: _F32,
) -> None:
    """Mark structured defects first, then isolated ones on pixels still good."""
    h, w = defects.shape
    for _ in range(spec.line_defects):
        col = int(rng.integers(w // 8, w - w // 8))
        start = int(rng.integers(0, h // 2))
        defects[start : start + h // 3, col] = DefectClass.LINE
    for _ in range(spec.row_line_defects):
        row = int(rng.integers(h // 8, h - h // 8))
        start = int(rng.integers(0, w // 2))
        defects[row, start : start + w // 3] = DefectClass.LINE
    for _ in range(spec.clusters):
        size_y, size_x = (int(s) for s in rng.integers(3, 7, 2))
        y0 = int(rng.integers(2, h - size_y - 2))
        x0 = int(rng.integers(2, w - size_x - 2))
        blob = defects[y0 : y0 + size_y, x0 : x0 + size_x]
        blob[blob == DefectClass.GOOD] = DefectClass.CLUSTER
    gain[defects == DefectClass.CLUSTER] *= 0.2

    def pick(fraction: float) -> npt.NDArray[np.intp]:
        # Isolated: good pixels whose 3x3 neighbourhood holds no defect yet, drawn as
        # ``rng.choice`` draws from the raster-ordered list of them (the same draws).
        count = round(fraction * h * w)
        if count == 0:
            return np.empty(0, dtype=np.intp)
        busy = _near_defects(defects)
        n_free = h * w - busy.size
        ranks = rng.choice(n_free, size=min(count, n_free), replace=False)
        return np.sort(_free_at(busy, ranks))

    n_isolated = round(spec.defect_fraction * h * w)
    picks = pick(spec.defect_fraction)
    dead, hot = picks[: n_isolated // 2], picks[n_isolated // 2 :]
    defects.flat[dead] = DefectClass.DEAD
    defects.flat[hot] = DefectClass.HOT
    offset.flat[hot] = spec.full_scale * 0.9
    noisy = pick(spec.noisy_fraction)
    defects.flat[noisy] = DefectClass.NOISY
    read_noise.flat[noisy] = spec.read_noise_counts * rng.uniform(10.0, 30.0, noisy.size)
    strong = pick(spec.nonlinear_fraction)
    defects.flat[strong] = DefectClass.NONLINEAR
    nonlin.flat[strong] = rng.choice([-1.0, 1.0], strong.size) * rng.uniform(0.1, 0.3, strong.size)
    lagging = pick(spec.lag_pixel_fraction)
    defects.flat[lagging] = DefectClass.LAG
    lag.flat[lagging] = spec.lag_pixel_lag


def _near_defects(defects: npt.NDArray[np.uint8]) -> npt.NDArray[np.intp]:
    """Return the raster indices of the pixels within one pixel (3×3) of a defect, sorted."""
    bad = defects != DefectClass.GOOD
    rows = bad.copy()  # dilated along each column: the pixel, above, below
    rows[1:] |= bad[:-1]
    rows[:-1] |= bad[1:]
    near = rows.copy()  # then along each row: left, right
    near[:, 1:] |= rows[:, :-1]
    near[:, :-1] |= rows[:, 1:]
    return np.flatnonzero(near)


def _free_at(busy: npt.NDArray[np.intp], ranks: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """Return the raster index of the free pixel of each rank (0: the first not in ``busy``).

    ``busy[j] − j`` free pixels come before busy pixel ``j``; a free pixel of rank ``k``
    has every busy pixel with ``busy[j] − j ≤ k`` before it.
    """
    before = busy - np.arange(busy.size)
    found: npt.NDArray[np.intp] = ranks + np.searchsorted(before, ranks, side="right")
    return found

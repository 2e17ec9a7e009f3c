"""What stands in the beam besides the patient: collimator blades, marker, scatter, grid.

Collimation
    Four lead blades (3 mm) bound a rectangular field on the panel; a pixel a blade edge
    crosses is irradiated in proportion to its open area.
Marker
    A lead letter (L or R, 1.5 mm thick, 5 × 7 strokes) inside the field's upper outer
    corner: R on the image's left (the patient's right in a PA view), L on its right.
Scatter
    A convolution model (Love & Kruger, Med Phys 14(2):178, 1987; Boone & Seibert, Med
    Phys 15(5), 1988): the scatter reaching the panel is the primary times a local
    scatter-to-primary ratio, spread by a broad kernel,
    ``S = (SPR(t) · P) ⊗ K``, ``SPR(t) = min(0.12 · t_cm, 6)`` with ``t`` the water-
    equivalent tissue thickness of the ray (mm of water by mass), ``K`` a normalised
    Gaussian of σ = 40 mm. An open field or the metal test objects scatter nothing; a
    20 cm patient gives SPR 2.4, the no-grid ratio of an adult abdomen or mediastinum.
Grid
    A focused 10:1 linear grid with lead strips along the columns: it passes 70 % of the
    primary and 12 % of the scatter (selectivity about 6, typical of such grids; IEC
    60627), and its strips (20 % of the pitch at ``lines_per_cm``) shade each pixel
    column by the share of it they cover, averaged over the pixel's width (so a grid
    finer than the pixels aliases, as real grid lines do).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from .materials import Material, mu_per_mm
from .scene import Field, Marker

__all__ = [
    "GRID_PRIMARY",
    "GRID_SCATTER",
    "aliased_cycles_per_px",
    "collimate",
    "grid_lines",
    "mark",
    "scatter",
]

_F32 = npt.NDArray[np.float32]

BLADE_MM = 3.0
MARKER_MM = 1.5
SPR_PER_CM = 0.12
SPR_MAX = 6.0
SCATTER_SIGMA_MM = 40.0
GRID_PRIMARY = 0.70
GRID_SCATTER = 0.12
GRID_STRIP_SHARE = 0.2
_CELL_MM = 4.0

_LETTERS = {
    "L": ("X....", "X....", "X....", "X....", "X....", "X....", "XXXXX"),
    "R": ("XXXX.", "X...X", "X...X", "XXXX.", "X.X..", "X..X.", "X...X"),
}


def _open_share(edges0: float, edges1: float, n: int) -> npt.NDArray[np.float64]:
    """Share of each pixel [i, i+1) inside [edges0, edges1]."""
    i = np.arange(n, dtype=np.float64)
    share: npt.NDArray[np.float64] = np.clip(
        np.minimum(i + 1, edges1) - np.maximum(i, edges0), 0, 1
    )
    return share


def collimate(primary: _F32, field: Field, kv: float) -> None:
    """Shade everything outside ``field`` by the lead blades, in place."""
    height, width = primary.shape
    rows = _open_share(field.y0_px, field.y1_px, height).astype(np.float32)
    cols = _open_share(field.x0_px, field.x1_px, width).astype(np.float32)
    blade = np.float32(math.exp(-mu_per_mm(Material.LEAD, kv) * BLADE_MM))
    primary *= blade + (1 - blade) * rows[:, None] * cols[None, :]


def mark(primary: _F32, letter: str, field: Field, kv: float) -> Marker:
    """Put the lead letter in the field's upper outer corner, in place; return its box.

    Raises
    ------
    ValueError
        A letter other than L or R.
    """
    if letter not in _LETTERS:
        raise ValueError(f"marker must be L or R, got {letter!r}")
    height, width = primary.shape
    stroke = max(1, round(min(height, width) * 0.008))
    h, w = 7 * stroke, 5 * stroke
    margin = 2 * stroke
    top = math.ceil(field.y0_px) + margin
    left = math.ceil(field.x0_px) + margin if letter == "R" else int(field.x1_px) - margin - w
    top, left = min(max(top, 0), height - h), min(max(left, 0), width - w)
    glyph = np.array([[c == "X" for c in row] for row in _LETTERS[letter]])
    mask = np.kron(glyph, np.ones((stroke, stroke), dtype=bool))
    lead = np.float32(math.exp(-mu_per_mm(Material.LEAD, kv) * MARKER_MM))
    region = primary[top : top + h, left : left + w]
    region[mask] *= lead
    return Marker(letter, (top, top + h), (left, left + w))


def _blur(cells: npt.NDArray[np.float64], sigma_cells: float) -> npt.NDArray[np.float64]:
    pad = math.ceil(3 * sigma_cells)
    padded = np.pad(cells, pad)
    fy = np.fft.fftfreq(padded.shape[0])[:, None]
    fx = np.fft.rfftfreq(padded.shape[1])[None, :]
    gain = np.exp(-2.0 * (math.pi * sigma_cells) ** 2 * (fx * fx + fy * fy))
    out = np.fft.irfft2(np.fft.rfft2(padded) * gain, s=padded.shape)
    return out[pad : pad + cells.shape[0], pad : pad + cells.shape[1]]


def _interpolation(n: int, m: int, block: int) -> _F32:
    """Return the (n, m) matrix interpolating m cell centres linearly to n pixel centres."""
    pos = np.clip((np.arange(n) + 0.5) / block - 0.5, 0.0, m - 1.0)
    i0 = np.minimum(pos.astype(int), max(m - 2, 0))
    i1 = np.minimum(i0 + 1, m - 1)
    w = (pos - i0).astype(np.float32)
    out = np.zeros((n, m), dtype=np.float32)
    np.add.at(out, (np.arange(n), i0), 1.0 - w)
    np.add.at(out, (np.arange(n), i1), w)
    return out


def _upsample(cells: npt.NDArray[np.float64], block: int, shape: tuple[int, int]) -> _F32:
    """Bilinear interpolation of cell values (at cell centres) to every pixel.

    Separable, as two matrix products (``R · cells · Cᵀ``): BLAS does it in a fraction of
    the time indexing would take at 3072².
    """
    rows = _interpolation(shape[0], cells.shape[0], block)
    cols = _interpolation(shape[1], cells.shape[1], block)
    out: _F32 = (rows @ cells.astype(np.float32)) @ cols.T
    return out


def _block_size(height: int, width: int, mm_per_px: float) -> int:
    """Cells of about 4 mm; a size dividing both sides when one is near (no padding)."""
    target = max(1, round(_CELL_MM / mm_per_px))
    for b in sorted(range(max(1, target // 2), 2 * target + 1), key=lambda b: abs(b - target)):
        if height % b == 0 and width % b == 0:
            return b
    return target


def scatter(primary: _F32, water_mm: _F32, mm_per_px: float) -> _F32:
    """Scatter reaching the panel for ``primary`` behind ``water_mm`` of tissue (module doc).

    The source ``SPR(t)·P`` is averaged over cells of about 4 mm, blurred (FFT, zero
    padded: nothing scatters in from beyond the panel) and interpolated back.
    """
    height, width = primary.shape
    source = np.minimum(np.float32(SPR_PER_CM / 10.0) * water_mm, np.float32(SPR_MAX))
    source *= primary
    block = _block_size(height, width, mm_per_px)
    ph, pw = -height % block, -width % block
    if ph or pw:
        source = np.pad(source, ((0, ph), (0, pw)), mode="edge")
    cells = source.reshape(source.shape[0] // block, block, -1, block).mean(axis=(1, 3))
    blurred = _blur(cells.astype(np.float64), SCATTER_SIGMA_MM / (block * mm_per_px))
    return _upsample(np.clip(blurred, 0.0, None), block, (height, width))


def grid_lines(width: int, pixel_pitch_mm: float, lines_per_cm: float) -> _F32:
    """Relative transmission of each pixel column behind the grid's strips (mean 1).

    Raises
    ------
    ValueError
        A line density that is not positive.
    """
    if not (math.isfinite(lines_per_cm) and lines_per_cm > 0):
        raise ValueError(f"grid lines_per_cm must be positive, got {lines_per_cm!r}")
    period = 10.0 / lines_per_cm
    strip = GRID_STRIP_SHARE * period

    def covered(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        # Length of strip between 0 and x: whole periods plus the part of the last one.
        return np.floor(x / period) * strip + np.minimum(np.mod(x, period), strip)

    x = np.arange(width + 1, dtype=np.float64) * pixel_pitch_mm
    share = np.diff(covered(x)) / pixel_pitch_mm
    open_share = (1.0 - share) / (1.0 - GRID_STRIP_SHARE)
    return open_share.astype(np.float32)[None, :]


def aliased_cycles_per_px(lines_per_cm: float, pixel_pitch_mm: float) -> float:
    """Return where the grid's line frequency falls after sampling, cycles/pixel (0-0.5)."""
    f = (lines_per_cm / 10.0 * pixel_pitch_mm) % 1.0
    return min(f, 1.0 - f)

"""Checks on each calibration flood before it is accepted: saturation, uniformity, level.

A gain map divides by the flood (calibration.md §1): an object left in the beam, a
collimator not fully open, a saturated or a missing exposure would be written into every
image corrected with it. Each flood frame is checked against the darks of the same run, in
this order, and the first check that fails rejects it with a one-line reason:

1. **Saturation.** At most ``flood_saturated_max_fraction`` (0.1 %) of the pixels at the
   panel's full scale: a flood near saturation makes the normalisation fail (Varex
   1313DXT-I manual p.52, floods at a quarter of full scale in the DALSA manual p.49).
2. **Uniformity.** A median block signal below :data:`NO_SIGNAL_FRACTION` of full scale
   is no flood at all (the tube did not fire, or the beam missed the panel). The panel is
   cut into a grid of :data:`GRID_BLOCKS` × :data:`GRID_BLOCKS` blocks, corners included;
   each block's signal above the dark (the median of the block, robust to defective
   pixels) must lie within ``flood_uniformity_tolerance`` (20 %) of the median of all
   blocks. An open field at the calibration SID varies less (the heel effect, the inverse
   square to the edges, a few per cent of gain between readout tiles); an object in the
   beam or a collimator blade in the field does not. A tube whose heel effect exceeds the
   tolerance at the site's SID needs a longer SID or a larger tolerance.
3. **Level.** The mean signal above the dark must lie within ``flood_level_tolerance``
   (30 %) of the signal expected at the level: the panel's counts per µGy times the level
   when the panel states them (:attr:`~panelgate.drivers.DetectorInfo.counts_per_ugy`),
   else the response of the floods accepted so far in the run (linearity, calibration.md
   §3.1). The first flood of a panel that states nothing only has to show a signal of at
   least :data:`MIN_FIRST_SIGNAL_FRACTION` of full scale (the tube fired, the beam reached
   the panel).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .config import CalibrationConfig

__all__ = [
    "GRID_BLOCKS",
    "MIN_FIRST_SIGNAL_FRACTION",
    "NO_SIGNAL_FRACTION",
    "FloodInspector",
    "FloodTolerances",
    "FloodVerdict",
    "block_medians",
]

GRID_BLOCKS = 8
"""Blocks per side of the uniformity grid (64 blocks: 5 cm each on a 43 cm panel)."""

MIN_FIRST_SIGNAL_FRACTION = 0.01
"""Least signal above the dark, as a fraction of full scale, of a run's first flood when
the panel states no counts per µGy."""

NO_SIGNAL_FRACTION = 0.001
"""Median block signal above the dark, as a fraction of full scale, below which a frame
holds no flood at all (65 counts at 16 bits: the read noise's order)."""

_SAMPLES_PER_SIDE = 64
"""Pixels sampled along each side of a block for its median (at most 64 × 64 per block)."""


@dataclass(frozen=True)
class FloodTolerances:
    """How far a flood may stray; see the module docstring (fractions, below 1).

    Parameters
    ----------
    level : float
        Relative deviation of the mean signal from the expected one.
    uniformity : float
        Relative deviation of a block's signal from the median of the blocks.
    saturated_max_fraction : float
        Largest fraction of pixels at full scale.
    """

    level: float = 0.3
    uniformity: float = 0.2
    saturated_max_fraction: float = 0.001

    def __post_init__(self) -> None:
        for name in ("level", "uniformity", "saturated_max_fraction"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(f"{name} must be a fraction in (0, 1), got {value!r}")

    @classmethod
    def of(cls, config: CalibrationConfig) -> FloodTolerances:
        """Return the tolerances of ``[calibration]``'s ``flood_*`` keys."""
        return cls(
            config.flood_level_tolerance,
            config.flood_uniformity_tolerance,
            config.flood_saturated_max_fraction,
        )


@dataclass(frozen=True)
class FloodVerdict:
    """What the checks said of one flood.

    Parameters
    ----------
    reason : str
        Why it was rejected, in one line; empty when accepted.
    signal_counts : float
        Its mean signal above the dark, counts.
    """

    reason: str
    signal_counts: float

    @property
    def accepted(self) -> bool:
        """Whether every check passed."""
        return not self.reason


def block_medians(
    pixels: npt.NDArray[np.generic], blocks: int = GRID_BLOCKS
) -> npt.NDArray[np.float64]:
    """Return the median of each block of a ``blocks`` × ``blocks`` grid over the frame.

    The blocks cover the whole frame (their edges are spread evenly, corners included);
    each median is taken over at most 64 × 64 evenly spaced pixels of its block.

    Raises
    ------
    ValueError
        A frame smaller than the grid.
    """
    height, width = pixels.shape
    if height < blocks or width < blocks:
        raise ValueError(f"a {width}x{height} frame is smaller than the {blocks}x{blocks} grid")
    rows = np.linspace(0, height, blocks + 1).astype(int)
    cols = np.linspace(0, width, blocks + 1).astype(int)
    out = np.empty((blocks, blocks))
    for i, (y0, y1) in enumerate(itertools.pairwise(rows)):
        for j, (x0, x1) in enumerate(itertools.pairwise(cols)):
            sy = max(1, (y1 - y0) // _SAMPLES_PER_SIDE)
            sx = max(1, (x1 - x0) // _SAMPLES_PER_SIDE)
            out[i, j] = float(np.median(pixels[y0:y1:sy, x0:x1:sx].astype(np.float64)))
    return out


def _where(i: int, j: int, blocks: int) -> str:
    corner = {(0, 0): "top left", (0, blocks - 1): "top right"}
    corner |= {(blocks - 1, 0): "bottom left", (blocks - 1, blocks - 1): "bottom right"}
    name = corner.get((i, j))
    return f"the {name} corner block" if name else f"block row {i + 1}, column {j + 1}"


class FloodInspector:
    """Checks the floods of one calibration run (see the module docstring).

    Parameters
    ----------
    tolerances : FloodTolerances
        How far a flood may stray.
    full_scale : int
        The panel's largest output value.
    counts_per_ugy : float or None
        The panel's stated response (counts per µGy); None when it states none.
    """

    def __init__(
        self, tolerances: FloodTolerances, *, full_scale: int, counts_per_ugy: float | None
    ) -> None:
        self.tolerances = tolerances
        self.full_scale = full_scale
        self.counts_per_ugy = counts_per_ugy
        self._dark_sum: npt.NDArray[np.float64] | None = None
        self._darks = 0
        self._signal_sum = 0.0
        self._level_sum = 0.0

    def add_dark(self, pixels: npt.NDArray[np.uint16]) -> None:
        """Take one dark frame into the reference the floods' signal is measured from."""
        medians = block_medians(pixels)
        self._dark_sum = medians if self._dark_sum is None else self._dark_sum + medians
        self._darks += 1

    def check(self, pixels: npt.NDArray[np.uint16], level_ugy: float) -> FloodVerdict:
        """Check one flood taken at ``level_ugy`` µGy; the first failing check is the reason.

        Raises
        ------
        ValueError
            No dark was taken before.
        """
        if self._dark_sum is None:
            raise ValueError("floods are checked against darks: take the darks first")
        saturated = float(np.count_nonzero(pixels >= self.full_scale)) / pixels.size
        blocks = block_medians(pixels) - self._dark_sum / self._darks
        signal = float(blocks.mean())
        tol = self.tolerances
        if saturated > tol.saturated_max_fraction:
            return FloodVerdict(
                f"saturated: {100 * saturated:.2g} % of the pixels at full scale "
                f"({self.full_scale}; at most {100 * tol.saturated_max_fraction:g} %): "
                "lower the dose or check the SID",
                signal,
            )
        return FloodVerdict(self._uniformity(blocks) or self._level(signal, level_ugy), signal)

    def accept(self, verdict: FloodVerdict, level_ugy: float) -> None:
        """Count an accepted flood into the response the next ones are compared with."""
        self._signal_sum += verdict.signal_counts
        self._level_sum += level_ugy

    def _uniformity(self, blocks: npt.NDArray[np.float64]) -> str:
        median = float(np.median(blocks))
        if median < NO_SIGNAL_FRACTION * self.full_scale:
            return (
                f"no signal above the dark (median {median:.0f} counts): did the tube fire, "
                "and does the beam reach the panel?"
            )
        deviation = blocks / median - 1.0
        i, j = np.unravel_index(int(np.argmax(np.abs(deviation))), deviation.shape)
        worst = float(deviation[i, j])
        if abs(worst) <= self.tolerances.uniformity:
            return ""
        return (
            f"non-uniform: {_where(int(i), int(j), blocks.shape[0])} is "
            f"{100 * abs(worst):.0f} % {'below' if worst < 0 else 'above'} the median of the "
            f"{blocks.size} blocks (tolerance {100 * self.tolerances.uniformity:g} %): remove "
            "every object from the beam and open the collimator to the full field"
        )

    def _level(self, signal: float, level_ugy: float) -> str:
        if self.counts_per_ugy:
            response, source = self.counts_per_ugy, "the panel states"
        elif self._level_sum > 0:
            response, source = self._signal_sum / self._level_sum, "the floods so far gave"
        else:
            least = MIN_FIRST_SIGNAL_FRACTION * self.full_scale
            if signal >= least:
                return ""
            return (
                f"signal {signal:.0f} counts above the dark, below {least:.0f} "
                f"({100 * MIN_FIRST_SIGNAL_FRACTION:g} % of full scale): did the tube fire?"
            )
        expected = response * level_ugy
        if abs(signal / expected - 1.0) <= self.tolerances.level:
            return ""
        return (
            f"level: signal {signal:.0f} counts above the dark, expected {expected:.0f} "
            f"± {100 * self.tolerances.level:g} % ({response:.4g} counts/µGy {source}): check "
            "the SID, that no grid or filter is in the beam, and the tube-output model "
            "([calibration] tube_output_ugy_per_mas)"
        )

"""Contrast-to-noise ratio of the steps of a step wedge and of lung nodules, given the truth.

``CNR = |S_object − S_background| / σ``, the contrast of an object against its background
in units of the image noise there (the definition pylinac and the AAPM's planar-imaging
QC use; Bushberg et al., *The Essential Physics of Medical Imaging*, ch. 4). Both means
and the noise are measured in regions the caller takes from the phantom's truth (step
boxes, nodule centre and diameter), away from the objects' edges:

- wedge step: its box shrunk by a margin against the box of the next step; σ is the
  pooled standard deviation of the two, each about a fitted plane (the heel effect and
  the processing's slow trends are not noise);
- nodule: a disc of half its diameter at its centre against an annulus from 0.75 to 1.25
  diameters from it; the annulus is fitted by a plane (anatomy varies under a nodule), its
  value at the centre is the background. σ is the pixel noise in the annulus, from the
  differences of horizontally adjacent pixels (σ = 1.4826 · MAD(Δ) / √2, robust to the
  few edges of ribs and lung in the ring, blind to smooth anatomy): on anatomy the
  spread about a plane would be the ribs, not the noise.

Pure numpy: works on linear and on processed images alike.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Cnr", "nodule_cnr", "wedge_step_cnr"]

_F64 = npt.NDArray[np.float64]
_Box = tuple[tuple[int, int], tuple[int, int]]  # (row0, row1), (col0, col1), end exclusive


@dataclass(frozen=True)
class Cnr:
    """One measured contrast-to-noise ratio.

    Attributes
    ----------
    signal, background : float
        Mean of the object's region and of its background (at the object), image units.
    noise : float
        Standard deviation of the noise there, image units.
    cnr : float
        ``|signal − background| / noise``.
    """

    signal: float
    background: float
    noise: float
    cnr: float


def _plane_residual(
    values: _F64, rows: _F64, cols: _F64, at: tuple[float, float]
) -> tuple[float, _F64]:
    """Fit ``a + b·row + c·col`` to ``values``; return its value at ``at`` and the residual."""
    design = np.column_stack([np.ones_like(rows), rows, cols])
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    return float(coef[0] + coef[1] * at[0] + coef[2] * at[1]), values - design @ coef


def _box_values(image: npt.NDArray[np.generic], box: _Box, margin_px: int) -> tuple[_F64, ...]:
    (r0, r1), (c0, c1) = box
    r0, r1, c0, c1 = r0 + margin_px, r1 - margin_px, c0 + margin_px, c1 - margin_px
    if r1 - r0 < 2 or c1 - c0 < 2:
        raise ValueError(f"box {box} leaves fewer than 2x2 pixels inside a {margin_px} px margin")
    rows, cols = np.mgrid[r0:r1, c0:c1]
    values = np.asarray(image[r0:r1, c0:c1], dtype=np.float64)
    return values.ravel(), rows.ravel().astype(np.float64), cols.ravel().astype(np.float64)


def wedge_step_cnr(
    image: npt.NDArray[np.generic], steps: Sequence[_Box], margin_px: int = 4
) -> list[Cnr]:
    """CNR of each step of a step wedge against the next step (one fewer than the steps).

    Parameters
    ----------
    image : numpy.ndarray
        2-D image, linear or processed.
    steps : sequence of ((row0, row1), (col0, col1))
        The steps' boxes in order (the phantom's truth), end exclusive.
    margin_px : int
        Pixels left out along each box's border (edge blur, processing halos).

    Returns
    -------
    list of Cnr
        For step i, ``signal`` is step i and ``background`` step i + 1.

    Raises
    ------
    ValueError
        Fewer than two steps, or a box too small for its margin.
    """
    if len(steps) < 2:
        raise ValueError(f"need at least two steps, got {len(steps)}")
    stats = []
    for box in steps:
        values, rows, cols = _box_values(image, box, margin_px)
        mean, residual = _plane_residual(values, rows, cols, (rows.mean(), cols.mean()))
        stats.append((mean, float(np.var(residual, ddof=3))))
    out = []
    for (s, var_s), (b, var_b) in itertools.pairwise(stats):
        noise = math.sqrt((var_s + var_b) / 2.0)
        out.append(Cnr(s, b, noise, abs(s - b) / noise if noise > 0 else math.inf))
    return out


def nodule_cnr(
    image: npt.NDArray[np.generic],
    centre_x_px: float,
    centre_y_px: float,
    diameter_px: float,
) -> Cnr:
    """CNR of a round object (a nodule) of known centre and diameter, pixels.

    Raises
    ------
    ValueError
        A diameter under 2 pixels, or an annulus that leaves the image.
    """
    if not diameter_px >= 2:
        raise ValueError(f"diameter_px must be at least 2, got {diameter_px}")
    height, width = image.shape
    reach = 1.25 * diameter_px
    if not (reach <= centre_x_px <= width - reach and reach <= centre_y_px <= height - reach):
        raise ValueError(
            f"the background annulus of a {diameter_px:g} px object at "
            f"({centre_x_px:g}, {centre_y_px:g}) leaves the {width}x{height} image"
        )
    r0, r1 = int(centre_y_px - reach), math.ceil(centre_y_px + reach) + 1
    c0, c1 = int(centre_x_px - reach), math.ceil(centre_x_px + reach) + 1
    rows, cols = np.mgrid[r0:r1, c0:c1].astype(np.float64) + 0.5  # pixel centres
    dist = np.hypot(rows - centre_y_px, cols - centre_x_px)
    patch = np.asarray(image[r0:r1, c0:c1], dtype=np.float64)
    inner = dist <= diameter_px / 4
    ring = (dist >= 0.75 * diameter_px) & (dist <= reach)
    background, _ = _plane_residual(patch[ring], rows[ring], cols[ring], (centre_y_px, centre_x_px))
    pairs = ring[:, 1:] & ring[:, :-1]
    steps = (patch[:, 1:] - patch[:, :-1])[pairs]
    noise = float(1.4826 * np.median(np.abs(steps - np.median(steps))) / math.sqrt(2.0))
    signal = float(patch[inner].mean())
    return Cnr(signal, background, noise, abs(signal - background) / noise if noise else math.inf)

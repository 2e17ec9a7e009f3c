"""The presentation pipeline: a corrected linear image in, the image a radiologist reads out.

Stages, each its own module (Flynn, AAPM 2006: preprocessing, exposure recognition,
grayscale rendition, edge restoration, noise reduction, contrast enhancement):

1. :mod:`~.logtransform`: log10 of the detector air kerma;
2. :mod:`~.field`: the collimated field and the direct exposure;
3. :mod:`~.exposure_index`: EI and DI from the relevant region of the linear data;
4. the outside of the field is filled with the relevant region's median, so that the
   blades' edges do not ring through the pyramid;
5. :mod:`~.gridlines`: the grid's line pattern removed, when a grid is in the beam;
6. :mod:`~.multiscale`: contrast equalisation, edge enhancement, noise suppression;
7. :mod:`~.tonescale`: the tone curve to the output bit depth, polarity, black surround.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .exposure_index import ExposureEstimate, deviation_index, estimate_exposure
from .field import Field, detect_field
from .gridlines import GridPattern, find_grid, suppress_grid
from .logtransform import Engine, log_kerma
from .multiscale import equalise
from .presets import PRESETS, Preset
from .tonescale import ToneWindow, tone_map, tone_window

__all__ = ["MIN_OBJECT_SHARE", "Presentation", "estimate_noise", "process", "warm_up"]

MIN_OBJECT_SHARE = 0.05
"""Below this share of the field attenuated, the field is taken as an open beam."""


@dataclass(frozen=True)
class Presentation:
    """The processed image and what the stages found.

    Parameters
    ----------
    pixels : numpy.ndarray
        uint16 grey levels, ``bits`` bits, MONOCHROME1 or MONOCHROME2 values.
    bits : int
        Output bit depth.
    monochrome1 : bool
        True when ``pixels`` are MONOCHROME1 (the smallest value shown white).
    window_center, window_width : float
        The VOI window that spans the output range (PS3.3 C.11.2.1.2, LINEAR): the tone
        curve is already in the pixels.
    exposure : ExposureEstimate
        EI, the value of interest and the air kerma it stands for.
    deviation_index : float
        DI against ``target_ei``.
    target_ei : float
        EI_T of the protocol.
    field : Field
        The exposure field and the direct-exposure level.
    tone : ToneWindow
        The log range the tone curve spans.
    grid : GridPattern or None
        The grid pattern removed, if any.
    noise_decades : float
        The noise the multi-scale stage was set for, decades.
    preset : Preset
        The parameters used.
    """

    pixels: npt.NDArray[np.uint16]
    bits: int
    monochrome1: bool
    window_center: float
    window_width: float
    exposure: ExposureEstimate
    deviation_index: float
    target_ei: float
    field: Field
    tone: ToneWindow
    grid: GridPattern | None
    noise_decades: float
    preset: Preset

    @property
    def ei(self) -> float:
        """The Exposure Index (IEC 62494-1)."""
        return self.exposure.ei


def process(  # noqa: PLR0917 - the signature of issue 14
    linear: npt.NDArray[np.uint16],
    pedestal_counts: float,
    counts_per_ugy: float,
    preset: Preset,
    grid: bool = False,
    target_ei: float = 400.0,
    *,
    bits: int = 12,
    monochrome1: bool = True,
    engine: Engine = "numba",
) -> Presentation:
    """Turn a corrected linear image into the For Presentation image.

    Parameters
    ----------
    linear : numpy.ndarray
        The corrected uint16 image (the For Processing pixels), linear in air kerma.
    pedestal_counts : float
        The constant the correction added.
    counts_per_ugy : float
        The detector's response, counts per µGy (RQA5).
    preset : Preset
        The protocol's processing parameters (:mod:`~.presets`).
    grid : bool
        True when an anti-scatter grid was in the beam: its line pattern is removed.
    target_ei : float
        EI_T of the protocol, for the deviation index.
    bits : int
        Output bit depth, 8-16.
    monochrome1 : bool
        MONOCHROME1 values (the convention for radiographs) or MONOCHROME2.
    engine : {"numba", "numpy"}
        The compiled kernels or the numpy oracles, stage by stage.

    Raises
    ------
    ValueError
        Not a 2-D uint16 image of at least 16 × 16 pixels, or a parameter out of range.
    """
    log = log_kerma(linear, pedestal_counts, counts_per_ugy, engine=engine)
    field = detect_field(log, engine=engine)
    relevant = _relevant(log, field)
    exposure = estimate_exposure(linear, relevant, pedestal_counts, counts_per_ugy)
    noise = estimate_noise(log, field)
    _fill_outside(log, field, float(np.log10(exposure.air_kerma_ugy)))
    found = None
    if grid:
        found = find_grid(log, slice(field.top, field.bottom), slice(field.left, field.right))
        if found is not None:
            log = suppress_grid(log, found, engine=engine)
    np.minimum(log, np.float32(field.direct_log_kerma + 0.15), out=log)
    processed = equalise(log, preset, noise, engine=engine)
    window = tone_window(processed, relevant, preset.low_pct, preset.high_pct, preset.tone_contrast)
    pixels = tone_map(processed, window, field, bits, monochrome1=monochrome1, engine=engine)
    top = float(1 << bits)
    return Presentation(
        pixels=pixels,
        bits=bits,
        monochrome1=monochrome1,
        window_center=top / 2,
        window_width=top,
        exposure=exposure,
        deviation_index=deviation_index(exposure.ei, target_ei),
        target_ei=target_ei,
        field=field,
        tone=window,
        grid=found,
        noise_decades=noise,
        preset=preset,
    )


def estimate_noise(log: npt.NDArray[np.float32], field: Field) -> float:
    """Return the noise of the log image in decades, from neighbour differences in the field.

    The median absolute difference of horizontally adjacent pixels (every eighth row),
    scaled to a standard deviation (1.4826 / √2): robust against edges, which are few.
    """
    inner = log[field.top : field.bottom : 8, field.left : field.right]
    d = np.abs(np.diff(inner, axis=1))
    sigma = 1.4826 * float(np.median(d)) / float(np.sqrt(2.0))
    return max(sigma, 1e-4)


def _relevant(log: npt.NDArray[np.float32], field: Field) -> npt.NDArray[np.bool_]:
    """Return the relevant region, or the whole field when it is (almost) all direct beam.

    Without an object the field is one plateau of direct exposure, and what lies below
    its top is only noise and defects: then the whole field is the region of interest
    (a flood's EI is its air kerma).
    """
    relevant = field.relevant(log)
    h, w = field.bottom - field.top, field.right - field.left
    if np.count_nonzero(relevant[::4, ::4]) < MIN_OBJECT_SHARE * (h // 4 + 1) * (w // 4 + 1):
        return field.inside()
    return relevant


def _fill_outside(log: npt.NDArray[np.float32], field: Field, value: float) -> None:
    """Set the shaded border to ``value`` in place."""
    fill = np.float32(value)
    log[: field.top] = fill
    log[field.bottom :] = fill
    log[:, : field.left] = fill
    log[:, field.right :] = fill


def warm_up(size: int = 1024) -> None:
    """Compile (or load from numba's on-disk cache) every kernel :func:`process` runs.

    A collimated, gridded ramp of ``size``² (large enough for the pyramid's parallel
    levels, 512² and up) goes through the chest preset once, so that the first patient's
    image does not pay for compilation.
    """
    yy, xx = np.mgrid[0:size, 0:size]
    linear = (1000.0 + 3000.0 * xx / size + 200.0 * ((yy // 4) % 2)).astype(np.uint16)
    linear[:, : size // 10] = 1100  # a collimator blade
    process(linear, 1000.0, 100.0, PRESETS["chest"], grid=True)

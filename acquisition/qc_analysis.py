"""The figures of a detector QC run (IEC 62220-1-1) from its frames.

:func:`analyse` takes what a QC run recorded (:class:`QcFrames`: darks, flats at one or
more air kerma levels, an edge image, a lag sequence) and returns :class:`QcResult`: the
figures for ``qc.json`` and the curves and maps for the plots. The measures themselves
are :mod:`panelgate.processing.quality`; here they are put together: darks subtracted,
the edge flat-field corrected by the flats of the nearest level and cut into regions
around its vertical and horizontal edges, the flats linearised through the fitted
conversion function, defective pixels left out of the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from panelgate.processing.quality import (
    PHOTONS_PER_MM2_PER_UGY,
    Dqe,
    EdgeMtf,
    Nnps,
    dark_noise,
    defective_pixels,
    detective_quantum_efficiency,
    fit_linearity,
    measure_lag,
    normalised_nps,
    presampling_mtf,
)

from .errors import UsageError

__all__ = ["QcFrames", "QcResult", "analyse"]

_F64 = npt.NDArray[np.float64]
_EDGE_HALF_PX = 56  # columns each side of an edge in its region
_EDGE_ROWS_MAX = 256  # rows along an edge in its region
_BLOCK_PX = 32  # block size of the residual non-uniformity map


@dataclass(frozen=True)
class QcFrames:
    """The frames of one QC run (all of one shape, raw counts).

    Attributes
    ----------
    darks : numpy.ndarray
        Dark frames, (n, h, w), n >= 2.
    flats : dict of float to numpy.ndarray
        Flat fields by air kerma in µGy, each (n, h, w).
    edge : numpy.ndarray or None
        Edge frames (n, h, w), averaged.
    lag : numpy.ndarray or None
        An exposure followed by the dark frames read after it, (1 + m, h, w).
    pixel_pitch_mm : float
        Pixel pitch.
    beam_quality : str
        IEC 61267 beam quality of the flats (RQA5 ...).
    previous_defects : numpy.ndarray or None
        Defect map (bool) of the panel's previous calibration, if there is one.
    corrected_flat : numpy.ndarray or None
        Mean of the middle level's flats corrected by that calibration (its residual
        non-uniformity is mapped); without it the uncorrected flat is.
    calibration_set : str or None
        Id of that calibration set.
    """

    darks: npt.NDArray[Any]
    flats: dict[float, npt.NDArray[Any]]
    edge: npt.NDArray[Any] | None
    lag: npt.NDArray[Any] | None
    pixel_pitch_mm: float
    beam_quality: str = "RQA5"
    previous_defects: npt.NDArray[np.bool_] | None = None
    corrected_flat: npt.NDArray[Any] | None = None
    calibration_set: str | None = None


@dataclass
class QcResult:
    """Figures (``figures``, JSON-ready) and what the plots draw."""

    figures: dict[str, Any]
    mtf: list[EdgeMtf] = field(default_factory=list)
    nnps: Nnps | None = None
    dqe: Dqe | None = None
    dqe_by_axis: dict[str, Dqe] = field(default_factory=dict)
    nonuniformity: _F64 | None = None


def analyse(frames: QcFrames) -> QcResult:
    """Compute every QC figure.

    Raises
    ------
    UsageError
        Frames that do not fit together, an edge that cannot be measured (none found,
        tilted outside 1.5-3°), flats too small or without signal.
    """
    _check(frames)
    darks = frames.darks.astype(np.float64)
    dark = darks.mean(axis=0)
    kerma_levels = sorted(frames.flats)
    means = {k: frames.flats[k].astype(np.float64).mean(axis=0) - dark for k in kerma_levels}
    nnps_kerma = kerma_levels[len(kerma_levels) // 2]
    gain = means[nnps_kerma]
    defects = defective_pixels(darks, gain)
    figures: dict[str, Any] = {
        "beam_quality": frames.beam_quality,
        "photons_per_mm2_per_ugy": PHOTONS_PER_MM2_PER_UGY[frames.beam_quality],
        "pixel_pitch_mm": frames.pixel_pitch_mm,
        "matrix": list(dark.shape[::-1]),
        "air_kerma_ugy": kerma_levels,
        "frames": {"darks": int(darks.shape[0])}
        | {f"flats_{k:g}_ugy": int(frames.flats[k].shape[0]) for k in kerma_levels},
    }
    noise = dark_noise(darks)
    figures["dark"] = {
        "mean_counts": noise.mean_counts,
        "offset_spread_counts": noise.offset_spread_counts,
        "noise_counts": noise.noise_counts,
        "noise_nonuniformity": noise.noise_nonuniformity,
        "noise_spread_measured": noise.noise_spread_measured,
    }
    figures["defects"] = _defect_figures(defects, frames.previous_defects)
    signals = [float(np.median(means[k][~defects])) for k in kerma_levels]
    linear = None
    if len(kerma_levels) >= 2:
        linear = fit_linearity(kerma_levels, signals)
        figures["linearity"] = {
            "slope_counts_per_ugy": linear.slope_counts_per_ugy,
            "intercept_counts": linear.intercept_counts,
            "r_squared": linear.r_squared,
            "max_deviation_fraction": linear.max_deviation_fraction,
            "signal_counts": signals,
        }
    else:
        figures["linearity"] = None
    result = QcResult(figures)
    if frames.corrected_flat is not None:
        mapped = frames.corrected_flat.astype(np.float64)
        source = f"corrected by calibration set {frames.calibration_set}"
    else:
        mapped, source = gain, "uncorrected (no calibration set of this panel and mode)"
    result.nonuniformity = _nonuniformity(mapped, defects)
    figures["nonuniformity"] = {
        "flat": source,
        "block_px": _BLOCK_PX,
        "std_fraction": float(np.nanstd(result.nonuniformity)),
        "max_abs_fraction": float(np.nanmax(np.abs(result.nonuniformity))),
    }
    result.nnps = _nnps(frames, dark, nnps_kerma, defects, linear)
    figures["nnps"] = {
        "air_kerma_ugy": nnps_kerma,
        "rois": result.nnps.rois,
        "frequency_per_mm": result.nnps.frequency_per_mm.tolist(),
        "x_mm2": result.nnps.x_mm2.tolist(),
        "y_mm2": result.nnps.y_mm2.tolist(),
        "radial_mm2": result.nnps.radial_mm2.tolist(),
    }
    if frames.edge is not None:
        result.mtf = _edges(frames, dark, means, defects)
        figures["mtf"] = [_mtf_figures(m) for m in result.mtf]
        result.dqe_by_axis = {
            m.axis: _dqe(m, result.nnps, nnps_kerma, frames.beam_quality) for m in result.mtf
        }
        result.dqe = next(iter(result.dqe_by_axis.values()))
        figures["dqe"] = {
            "axis": result.mtf[0].axis,
            "dqe_zero": result.dqe.dqe_zero,
            "frequency_per_mm": result.dqe.frequency_per_mm.tolist(),
            "dqe": _floats(result.dqe.dqe),
            "axes": {
                axis: {"dqe_zero": d.dqe_zero, "dqe": _floats(d.dqe)}
                for axis, d in result.dqe_by_axis.items()
            },
        }
    if frames.lag is not None:
        figures["lag"] = _lag(frames.lag.astype(np.float64), dark)
    return result


def _check(frames: QcFrames) -> None:
    shape = frames.darks.shape[1:]
    if frames.darks.ndim != 3 or frames.darks.shape[0] < 2:
        raise UsageError(f"QC needs at least two dark frames, got {frames.darks.shape[:1]}")
    if not frames.flats:
        raise UsageError("QC needs flat fields at one air kerma at least")
    stacks = [*frames.flats.values(), *(s for s in (frames.edge, frames.lag) if s is not None)]
    for stack in stacks:
        if stack.ndim != 3 or stack.shape[1:] != shape:
            raise UsageError(f"QC frames of shape {stack.shape[1:]}, the darks {shape}")
    if any(not k > 0 for k in frames.flats):
        raise UsageError(f"flat air kerma must be > 0 µGy, got {sorted(frames.flats)}")
    if frames.beam_quality not in PHOTONS_PER_MM2_PER_UGY:
        raise UsageError(
            f"unknown beam quality {frames.beam_quality!r}; "
            f"known: {', '.join(PHOTONS_PER_MM2_PER_UGY)}"
        )
    if frames.previous_defects is not None and frames.previous_defects.shape != shape:
        raise UsageError("the previous calibration's defect map has another shape")


def _defect_figures(
    defects: npt.NDArray[np.bool_], previous: npt.NDArray[np.bool_] | None
) -> dict[str, Any]:
    found: dict[str, Any] = {"count": int(np.count_nonzero(defects))}
    if previous is None:
        found["previous_calibration"] = None
        return found
    found["previous_calibration"] = {
        "count": int(np.count_nonzero(previous)),
        "new": int(np.count_nonzero(defects & ~previous)),
        "gone": int(np.count_nonzero(previous & ~defects)),
    }
    return found


def _nonuniformity(gain: _F64, defects: npt.NDArray[np.bool_]) -> _F64:
    """Relative deviation of 32 × 32 block means of the flat from their panel mean."""
    h, w = gain.shape
    bh, bw = h // _BLOCK_PX, w // _BLOCK_PX
    if bh == 0 or bw == 0:
        return np.zeros((1, 1))
    g = np.where(defects, np.nan, gain)[: bh * _BLOCK_PX, : bw * _BLOCK_PX]
    blocks = np.nanmean(g.reshape(bh, _BLOCK_PX, bw, _BLOCK_PX), axis=(1, 3))
    result: _F64 = blocks / np.nanmean(blocks) - 1.0
    return result


def _nnps(
    frames: QcFrames, dark: _F64, kerma: float, defects: npt.NDArray[np.bool_], linear: Any
) -> Nnps:
    signal = frames.flats[kerma].astype(np.float64) - dark
    if linear is not None:  # linearised: in µGy, through the conversion function
        signal = linear.to_kerma_ugy(signal)
    signal = np.where(defects, np.median(signal), signal)
    try:
        return normalised_nps(signal, pixel_pitch_mm=frames.pixel_pitch_mm)
    except ValueError as exc:
        raise UsageError(f"flats at {kerma:g} µGy: {exc}") from None


def _edges(
    frames: QcFrames, dark: _F64, means: dict[float, _F64], defects: npt.NDArray[np.bool_]
) -> list[EdgeMtf]:
    assert frames.edge is not None
    edge = frames.edge.astype(np.float64).mean(axis=0) - dark
    level = float(np.median(edge[~defects]))
    nearest = min(means, key=lambda k: abs(float(np.median(means[k])) - level))
    flat = means[nearest]
    valid = ~defects & (flat > 0)
    corrected = np.where(valid, edge / np.where(valid, flat, 1.0), 0.0)
    found = []
    for axis in ("x", "y"):
        roi = _edge_region(corrected, valid, axis)
        if roi is None:
            continue
        try:
            found.append(
                presampling_mtf(
                    corrected[roi], pixel_pitch_mm=frames.pixel_pitch_mm, valid=valid[roi]
                )
            )
        except ValueError as exc:
            raise UsageError(f"edge image: {exc}") from None
    if not found:
        raise UsageError("edge image: no edge found (is the edge device in the beam?)")
    return found


def _edge_region(
    corrected: _F64, valid: npt.NDArray[np.bool_], axis: str
) -> tuple[slice, slice] | None:
    """Return the region around the longest edge across ``axis``, or None if there is none.

    The flat-corrected image is about 1 in the open beam and near 0 behind the plate; an
    edge is where a row crosses 0.5. The crossings are gathered in 48-pixel column
    windows; the window holding the most is the edge, the rows of its crossings its length.
    """
    img, ok = (corrected, valid) if axis == "x" else (corrected.T, valid.T)
    dark = img < 0.5
    rows, cols = np.nonzero((dark[:, 1:] != dark[:, :-1]) & ok[:, 1:] & ok[:, :-1])
    if rows.size < 64:
        return None
    w = img.shape[1]
    counts = np.bincount(cols // 16, minlength=w // 16 + 3)
    windows = counts[:-2] + counts[1:-1] + counts[2:]
    first = int(np.argmax(windows))
    near = (cols >= first * 16) & (cols < first * 16 + 48)
    if np.unique(rows[near]).size < 64:
        return None
    col = int(np.median(cols[near]))
    top, bottom = int(rows[near].min()) + 16, int(rows[near].max()) - 16
    half = min(_EDGE_ROWS_MAX, bottom - top) // 2
    if half < 32:
        return None
    middle = (top + bottom) // 2
    cs = np.s_[max(col - _EDGE_HALF_PX, 0) : min(col + _EDGE_HALF_PX, w)]
    rs = np.s_[middle - half : middle + half]
    return (rs, cs) if axis == "x" else (cs, rs)


def _mtf_figures(m: EdgeMtf) -> dict[str, Any]:
    return {
        "axis": m.axis,
        "edge_angle_deg": m.angle_deg,
        "mtf50_per_mm": m.mtf50_per_mm,
        "mtf_at_nyquist": m.mtf_at_nyquist,
        "nyquist_per_mm": 0.5 / m.pixel_pitch_mm,
        "frequency_per_mm": m.frequency_per_mm.tolist(),
        "mtf": m.mtf.tolist(),
    }


def _dqe(mtf: EdgeMtf, nnps: Nnps, kerma: float, beam_quality: str) -> Dqe:
    """DQE along the MTF's axis, with the NNPS profile along the same axis."""
    profile = nnps.x_mm2 if mtf.axis == "x" else nnps.y_mm2
    return detective_quantum_efficiency(
        mtf.frequency_per_mm, mtf.mtf, nnps.frequency_per_mm, profile,
        air_kerma_ugy=kerma, beam_quality=beam_quality,
    )  # fmt: skip


def _floats(values: _F64) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]


def _lag(stack: _F64, dark: _F64) -> dict[str, Any]:
    if stack.shape[0] < 2:
        raise UsageError("the lag sequence needs an exposure and at least one frame after it")
    try:
        lag = measure_lag(stack[0], stack[1:], dark)
    except ValueError as exc:
        raise UsageError(f"lag sequence: {exc}") from None
    return {
        "first_frame": lag.first_frame,
        "residual": lag.residual,
        "fractions": list(lag.fractions),
    }

"""Test objects placed in the simulated beam, as transmission maps (0 = opaque, 1 = open beam)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["chest", "flat_field", "step_wedge_line_pairs"]

_Map = npt.NDArray[np.float32]


def flat_field(height: int, width: int) -> _Map:
    """Open beam: every pixel sees the full air kerma."""
    return np.ones((height, width), dtype=np.float32)


def step_wedge_line_pairs(height: int, width: int, pixel_pitch_mm: float) -> _Map:
    """Make a step wedge over the upper half and line-pair bar groups over the lower half.

    The wedge has ten aluminium steps whose transmission falls from 0.9 to 0.05, like the
    step wedges used for detector constancy checks. The bar groups are lead bars (5 %
    transmission) at 0.5 to 3.0 line pairs per millimetre, five bars per group, laid
    out left to right; their width in pixels follows from ``pixel_pitch_mm``.

    Parameters
    ----------
    height, width : int
        Size of the map in pixels.
    pixel_pitch_mm : float
        Pixel pitch in millimetres, to place the bars at their nominal frequencies.

    Returns
    -------
    numpy.ndarray
        float32 transmission map of shape (height, width).
    """
    if height < 32 or width < 32:
        raise ValueError(f"phantom needs at least 32x32 pixels, got {width}x{height}")
    t = np.ones((height, width), dtype=np.float32)
    margin_y, margin_x = height // 16, width // 16

    # Step wedge: ten steps, each a column band, over the upper half.
    wedge_top, wedge_bottom = margin_y, height // 2 - margin_y // 2
    steps = np.geomspace(0.9, 0.05, 10).astype(np.float32)
    edges = np.linspace(margin_x, width - margin_x, steps.size + 1).astype(int)
    for value, x0, x1 in zip(steps, edges[:-1], edges[1:], strict=True):
        t[wedge_top:wedge_bottom, x0:x1] = value

    # Line pairs: groups of five lead bars at rising spatial frequency, lower half.
    bar_top, bar_bottom = height // 2 + margin_y // 2, height - margin_y
    x = margin_x
    for lp_per_mm in (0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0):
        bar_px = max(1, round(1.0 / (2.0 * lp_per_mm * pixel_pitch_mm)))
        if x + 10 * bar_px > width - margin_x:
            break
        for bar in range(5):
            x0 = x + 2 * bar * bar_px
            t[bar_top:bar_bottom, x0 : x0 + bar_px] = 0.05
        x += 10 * bar_px + 4 * bar_px + 8
    return t


def chest(height: int, width: int) -> _Map:
    """Make an anatomical-looking PA chest test image from simple analytic shapes.

    Soft tissue is a smooth ellipse of the body outline (transmission ≈ 0.25 at its
    centre, rising towards the skin line); two elliptical lung fields transmit more
    (≈ 0.55); a spine band, a heart shadow and the diaphragm domes attenuate; ten pairs
    of ribs are thin curved bands (−25 %) across the lungs. Everything is smooth (no
    pixel-sized edges) so that it looks like anatomy, not like a test pattern.

    Parameters
    ----------
    height, width : int
        Size of the map in pixels (at least 32 × 32).

    Returns
    -------
    numpy.ndarray
        float32 transmission map of shape (height, width), values in (0, 1].
    """
    if height < 32 or width < 32:
        raise ValueError(f"phantom needs at least 32x32 pixels, got {width}x{height}")
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u = (x / width - 0.5) * 2.0  # -1..1 left to right
    v = (y / height - 0.5) * 2.0  # -1..1 top to bottom

    def smooth_inside(r2: _Map, edge: float = 0.08) -> _Map:
        # 1 inside an ellipse (r2 < 1), 0 outside, with a soft edge.
        inside: _Map = np.clip((1.0 - r2) / edge, 0.0, 1.0).astype(np.float32)
        return inside

    body = smooth_inside((u / 0.92) ** 2 + ((v - 0.05) / 1.1) ** 2, 0.3)
    thickness = body * (0.6 + 0.4 * np.sqrt(np.clip(1 - (u / 0.92) ** 2, 0, 1)))
    lungs = sum(
        smooth_inside(((u - cx) / 0.3) ** 2 + ((v + 0.05) / 0.62) ** 2, 0.25)
        for cx in (-0.38, 0.38)
    )
    ribs = np.zeros_like(u)
    for i in range(10):
        # Each rib: a band along a parabola sloping down from the spine to the side.
        centre = -0.6 + 0.13 * i + 0.18 * u**2
        ribs += np.exp(-(((v - centre) / 0.022) ** 2)).astype(np.float32)
    ribs *= lungs > 0
    spine = np.exp(-((u / 0.07) ** 2)) * body
    heart = smooth_inside(((u + 0.12) / 0.3) ** 2 + ((v - 0.25) / 0.28) ** 2, 0.3)
    diaphragm = smooth_inside((u / 0.95) ** 2 + ((v - 1.05) / 0.45) ** 2, 0.2)
    mu = 1.4 * thickness - 0.8 * lungs * body + 0.3 * ribs + 0.6 * spine
    mu += 0.4 * heart + 0.8 * diaphragm * body
    t = np.exp(-np.clip(mu, 0.0, None)).astype(np.float32)
    result: _Map = np.clip(t, 1e-3, 1.0).astype(np.float32)
    return result

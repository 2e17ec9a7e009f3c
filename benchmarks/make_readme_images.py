"""Render the README's phantom images: linear vs processed, side by side, with figures.

Each phantom (chest PA behind a grid, hand PA) is placed on a simulated panel and exposed
at its protocol's technique through the tube-output model; the panel's frame is
corrected with a quick calibration (as ``panelgate expose --quick-calibration`` does) and
processed for presentation (:func:`panelgate.processing.process`, the protocol's preset).
The linear image is shown as a radiograph is (air dark, bone bright) with a 1-99 %
window; the processed one as its MONOCHROME1 grey levels say. Writes
``docs/images/<phantom>-linear-vs-processed.png`` and prints the figures measured on the
same images (EI, and the CNR of each nodule against the truth, linear and processed).

    .venv/bin/python benchmarks/make_readme_images.py [--size 1536] [--out docs/images]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from panelgate.acquisition.config import Config
from panelgate.acquisition.exposure import quick_calibration
from panelgate.acquisition.pipeline import Pipeline
from panelgate.processing.quality import nodule_cnr
from panelgate.simulators import PanelSpec, SimulatedDetector, air_kerma_ugy
from panelgate.simulators.phantoms import Placement, render

CASES = (
    # name, placement, kV, mAs, preset, grid
    ("chest", Placement.from_keys("chest", None, "on", "L"), 120.0, 4.0, "chest", True),
    ("hand", Placement.from_keys("hand", None, None, "R"), 55.0, 3.0, "extremity", False),
)


def _linear_view(pixels: npt.NDArray[np.uint16], pedestal: float) -> npt.NDArray[np.uint8]:
    """Log of the linear signal, 1-99 % window, inverted: air dark, bone bright."""
    log = np.log10(np.clip(pixels.astype(np.float64) - pedestal, 1.0, None))
    low, high = np.percentile(log, [1, 99])
    return (255 * (1 - np.clip((log - low) / (high - low), 0, 1))).astype(np.uint8)


def _processed_view(
    pixels: npt.NDArray[np.uint16], bits: int, mono1: bool
) -> npt.NDArray[np.uint8]:
    grey = pixels.astype(np.float64) / ((1 << bits) - 1)
    return (255 * (1 - grey if mono1 else grey)).astype(np.uint8)


def _side_by_side(
    left: npt.NDArray[np.uint8], right: npt.NDArray[np.uint8], width: int
) -> Image.Image:
    tiles = [
        Image.fromarray(a).resize((width, width), Image.Resampling.LANCZOS) for a in (left, right)
    ]
    out = Image.new("L", (2 * width + 8, width + 24), 255)
    draw = ImageDraw.Draw(out)
    for i, (tile, label) in enumerate(zip(tiles, ("linear (corrected)", "processed"), strict=True)):
        out.paste(tile, (i * (width + 8), 24))
        draw.text((i * (width + 8) + 4, 6), label, fill=0)
    return out


def main(argv: list[str] | None = None) -> int:
    """Render the images; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1536, help="panel matrix (square), pixels")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--tile", type=int, default=512, help="width of each image in the PNG")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    spec = PanelSpec(width=args.size, height=args.size, pixel_pitch_mm=0.139 * 3072 / args.size)
    with SimulatedDetector(spec, seed=14) as detector:
        pipeline = Pipeline(detector, Config(), beam=detector.irradiate)
        pipeline.configure(args.size, args.size)
        calibration = quick_calibration(pipeline, frames=4)
        for name, placement, kv, mas, preset, grid in CASES:
            pipeline.expose(0.0)  # a dark first: the previous image's lag stays out
            scene = render(placement, args.size, args.size, spec.pixel_pitch_mm, kv=kv)
            frame = pipeline.expose(air_kerma_ugy(kv, mas), scene.transmission)
            corrected = pipeline.correct(frame, calibration)
            shown = pipeline.present(corrected, preset, grid=grid)
            pedestal = calibration.pedestal_counts
            linear = _linear_view(corrected.pixels, pedestal)
            processed = _processed_view(shown.pixels, shown.bits, shown.monochrome1)
            path = args.out / f"{name}-linear-vs-processed.png"
            _side_by_side(linear, processed, args.tile).save(path, optimize=True)
            print(f"{path}: {kv:g} kV, {mas:g} mAs, preset {preset}, EI {shown.exposure.ei:.0f}")
            for n in scene.truth.nodules:
                lin = nodule_cnr(corrected.pixels, n.centre_x_px, n.centre_y_px, n.diameter_px)
                pro = nodule_cnr(shown.pixels, n.centre_x_px, n.centre_y_px, n.diameter_px)
                print(
                    f"  nodule {n.diameter_mm:4.0f} mm, contrast {100 * n.contrast:4.1f} %: "
                    f"CNR linear {lin.cnr:5.1f}, processed {pro.cnr:5.1f}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())

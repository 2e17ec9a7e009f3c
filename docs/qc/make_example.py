"""Make the example QC report of the README: a simulated panel, recorded, then ``qc --offline``.

The panel is the simulator's 43 cm CsI model cut to 1024 × 1024 pixels (0.139 mm), with a
light spread of σ = 0.6 px; it records 8 darks, 6 flats at each of 2.5, 5 and 10 µGy (the
first of each level discarded), 6 frames of a tungsten plate rotated 2° at 10 µGy and a lag
sequence, as .npy stacks. ``panelgate calibrate all`` builds a calibration set from the
darks and flats (the residual non-uniformity is mapped after it), then ``panelgate qc
--offline`` measures the stacks into this folder.

Run from the repository root: ``.venv/bin/python docs/qc/make_example.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from panelgate.acquisition.cli import main
from panelgate.simulators import PanelModel, PanelSpec
from panelgate.simulators.edge import edge_plate
from panelgate.simulators.panel import dqe_zero_truth, presampling_mtf_truth

SIZE = 1024
SPEC = PanelSpec(width=SIZE, height=SIZE, mtf_sigma_px=0.6)
OUT = Path(__file__).resolve().parent


def record(folder: Path) -> list[str]:
    """Write the stacks; return the ``qc --offline`` arguments that name them."""
    model = PanelModel(SPEC, seed=2026)

    def save(name: str, frames: list[np.ndarray]) -> str:
        path = folder / f"{name}.npy"
        np.save(path, np.stack(frames))
        return str(path)

    darks = save("darks", [model.read(0.0) for _ in range(8)])
    flats = []
    for kerma in (2.5, 5.0, 10.0):
        model.read(kerma)
        flats.append(save(f"flats_{kerma:g}", [model.read(kerma) for _ in range(6)]))
    plate = edge_plate(SIZE, SIZE, angle_deg=2.0)
    model.read(10.0, plate)
    edge = save("edge", [model.read(10.0, plate) for _ in range(6)])
    lag = save("lag", [model.read(10.0), *(model.read(0.0) for _ in range(3))])
    return [
        "--darks", darks, "--flats", *flats, "--kerma-ugy", "2.5,5,10", "--edge", edge,
        "--lag", lag, "--pixel-pitch-mm", str(SPEC.pixel_pitch_mm),
    ]  # fmt: skip


def main_() -> int:
    """Record, measure, and print the panel's truth beside what was measured."""
    with tempfile.TemporaryDirectory() as tmp:
        args = record(Path(tmp))
        store = str(Path(tmp) / "store")
        darks, floods = args[1], args[3:6]
        rc = main([
            "calibrate", "all", "--darks", darks, "--floods", *floods, "--levels", "2.5,5,10",
            "--serial", SPEC.serial, "--store", store,
        ])  # fmt: skip
        rc = rc or main([
            "qc", "--offline", *args, "--serial", SPEC.serial, "--store", store,
            "--out", str(OUT),
        ])  # fmt: skip
    print(
        f"truth: MTF at Nyquist {float(presampling_mtf_truth(SPEC, 0.5)):.3f}, "
        f"DQE(0) at 5 µGy {dqe_zero_truth(SPEC, 5.0):.3f} (QE {SPEC.quantum_efficiency:.3f})"
    )
    return rc


if __name__ == "__main__":
    sys.exit(main_())

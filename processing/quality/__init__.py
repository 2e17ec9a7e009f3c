"""Image-quality measures on linear and processed images, checked against phantom truth.

Pure numpy. Each measure lives in a module of its own (CNR, overshoot, field accuracy,
and the detector QC measures MTF, NNPS and DQE of IEC 62220-1-1); each owner exports
its names here with a small edit.
"""

from .dark import DarkNoise, dark_noise, defective_pixels
from .dqe import PHOTONS_PER_MM2_PER_UGY, Dqe, detective_quantum_efficiency
from .lag import Lag, measure_lag
from .linearity import Linearity, fit_linearity
from .mtf import EDGE_ANGLE_RANGE_DEG, EdgeMtf, presampling_mtf
from .nnps import Nnps, normalised_nps

__all__: list[str] = [
    # detector QC (IEC 62220-1-1)
    "EDGE_ANGLE_RANGE_DEG",
    "PHOTONS_PER_MM2_PER_UGY",
    "DarkNoise",
    "Dqe",
    "EdgeMtf",
    "Lag",
    "Linearity",
    "Nnps",
    "dark_noise",
    "defective_pixels",
    "detective_quantum_efficiency",
    "fit_linearity",
    "measure_lag",
    "normalised_nps",
    "presampling_mtf",
]

"""Image-quality measures on linear and processed images, checked against phantom truth.

Pure numpy. Each measure lives in a module of its own (CNR, overshoot, field accuracy,
and the detector QC measures MTF, NNPS and DQE of IEC 62220-1-1); each owner exports
its names here with a small edit.
"""

from .cnr import Cnr, nodule_cnr, wedge_step_cnr
from .dark import DarkNoise, dark_noise, defective_pixels
from .dqe import PHOTONS_PER_MM2_PER_UGY, Dqe, detective_quantum_efficiency
from .field_accuracy import FieldAccuracy, field_accuracy
from .lag import Lag, measure_lag
from .linearity import Linearity, fit_linearity
from .mtf import EDGE_ANGLE_RANGE_DEG, EdgeMtf, presampling_mtf
from .nnps import Nnps, normalised_nps
from .overshoot import Overshoot, field_edge_overshoot, overshoot

__all__: list[str] = [
    "EDGE_ANGLE_RANGE_DEG",
    "PHOTONS_PER_MM2_PER_UGY",
    "Cnr",
    "DarkNoise",
    "Dqe",
    "EdgeMtf",
    "FieldAccuracy",
    "Lag",
    "Linearity",
    "Nnps",
    "Overshoot",
    "dark_noise",
    "defective_pixels",
    "detective_quantum_efficiency",
    "field_accuracy",
    "field_edge_overshoot",
    "fit_linearity",
    "measure_lag",
    "nodule_cnr",
    "normalised_nps",
    "overshoot",
    "presampling_mtf",
    "wedge_step_cnr",
]

"""Presentation processing and image-quality measurement: pure numerics on linear images.

A sibling of :mod:`panelgate.calibration` and :mod:`panelgate.simulators`: it imports
only :mod:`panelgate.drivers`. The simulators never import it, so their phantoms and
optics stay the independent truth its measures are checked against.

The presentation pipeline (:func:`process`) turns the corrected linear image into the
image a radiologist reads: log transform, exposure-field detection, Exposure Index (IEC
62494-1), grid-line suppression, multi-scale contrast equalisation and the tone scale,
with parameters per protocol preset (:data:`PRESETS`).
"""

import logging

from .exposure_index import ExposureEstimate, deviation_index, estimate_exposure
from .field import Field, detect_field
from .gridlines import GridPattern, find_grid, suppress_grid
from .logtransform import Engine, log_kerma
from .multiscale import equalise
from .pipeline import Presentation, process, warm_up
from .presets import PRESETS, Preset, preset, with_overrides
from .tonescale import ToneWindow, tone_map, tone_window

__all__ = [
    "PRESETS",
    "Engine",
    "ExposureEstimate",
    "Field",
    "GridPattern",
    "Presentation",
    "Preset",
    "ToneWindow",
    "detect_field",
    "deviation_index",
    "equalise",
    "estimate_exposure",
    "find_grid",
    "log_kerma",
    "preset",
    "process",
    "suppress_grid",
    "tone_map",
    "tone_window",
    "warm_up",
    "with_overrides",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

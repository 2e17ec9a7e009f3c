"""Building and writing DX DICOM instances (PS3.3 A.26)."""

from .build import (
    DEFAULT_UID_ROOT,
    DX_FOR_PRESENTATION,
    DX_FOR_PROCESSING,
    Provenance,
    build_dx_for_presentation,
)
from .context import ANATOMY_CODES, ExposureIndex, StudyContext, Technique, exposure_index
from .window import Window, histogram_window
from .write import write_atomic

__all__ = [
    "ANATOMY_CODES",
    "DEFAULT_UID_ROOT",
    "DX_FOR_PRESENTATION",
    "DX_FOR_PROCESSING",
    "ExposureIndex",
    "Provenance",
    "StudyContext",
    "Technique",
    "Window",
    "build_dx_for_presentation",
    "exposure_index",
    "histogram_window",
    "write_atomic",
]

"""Building, compressing and writing DX DICOM instances (PS3.3 A.26)."""

from .build import (
    DEFAULT_UID_ROOT,
    DX_FOR_PRESENTATION,
    DX_FOR_PROCESSING,
    Provenance,
    build_dx_for_presentation,
    build_dx_for_processing,
    check_dx_header,
)
from .compress import LOSSLESS, compress_lossless
from .context import (
    ANATOMY_CODES,
    ExposureIndex,
    ProtocolCode,
    StudyContext,
    Technique,
    exposure_index,
)
from .window import Window, histogram_window
from .write import write_atomic

__all__ = [
    "ANATOMY_CODES",
    "DEFAULT_UID_ROOT",
    "DX_FOR_PRESENTATION",
    "DX_FOR_PROCESSING",
    "LOSSLESS",
    "ExposureIndex",
    "ProtocolCode",
    "Provenance",
    "StudyContext",
    "Technique",
    "Window",
    "build_dx_for_presentation",
    "build_dx_for_processing",
    "check_dx_header",
    "compress_lossless",
    "exposure_index",
    "histogram_window",
    "write_atomic",
]

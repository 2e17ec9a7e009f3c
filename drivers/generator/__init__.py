"""X-ray generator link over a serial line (pyserial), speaking panelgate's line protocol.

:mod:`.protocol` is the pure encoding (documented as tables there), :mod:`.client` the I/O,
:mod:`.errors` the typed failures.
"""

from .client import GeneratorClient
from .errors import (
    ExposureAborted,
    GeneratorError,
    GeneratorFault,
    GeneratorLinkError,
    GeneratorProtocolError,
    GeneratorTimeout,
    InterlockOpen,
    TechniqueOutOfRange,
    TubeOverheat,
)
from .protocol import Delivered, TechniqueLimits

__all__ = [
    "Delivered",
    "ExposureAborted",
    "GeneratorClient",
    "GeneratorError",
    "GeneratorFault",
    "GeneratorLinkError",
    "GeneratorProtocolError",
    "GeneratorTimeout",
    "InterlockOpen",
    "TechniqueLimits",
    "TechniqueOutOfRange",
    "TubeOverheat",
]

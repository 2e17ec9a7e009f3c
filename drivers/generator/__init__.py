"""X-ray generators: the contract the workflow takes, and the link over a serial line.

:mod:`.contract` is the :class:`Generator` protocol (a declared capability);
:mod:`.protocol` the pure encoding of panelgate's line protocol (documented as tables
there), :mod:`.client` its I/O over pyserial, :mod:`.errors` the typed failures.
"""

from .client import GeneratorClient
from .contract import Generator, ReportsDoseAreaProduct
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
from .manual import ManualGenerator
from .protocol import Delivered, TechniqueLimits

__all__ = [
    "Delivered",
    "ExposureAborted",
    "Generator",
    "GeneratorClient",
    "GeneratorError",
    "GeneratorFault",
    "GeneratorLinkError",
    "GeneratorProtocolError",
    "GeneratorTimeout",
    "InterlockOpen",
    "ManualGenerator",
    "ReportsDoseAreaProduct",
    "TechniqueLimits",
    "TechniqueOutOfRange",
    "TubeOverheat",
]

"""A simulated X-ray generator, behind a pseudo-terminal or in-process, with fault injection.

Its beam reaches the simulated panels of its X-ray room (:mod:`panelgate.simulators.room`).
"""

from .inprocess import InProcessGenerator
from .model import GeneratorModel, GeneratorSpec, OnExposure, SimFault
from .pty import SimulatedGenerator

__all__ = [
    "GeneratorModel",
    "GeneratorSpec",
    "InProcessGenerator",
    "OnExposure",
    "SimFault",
    "SimulatedGenerator",
]

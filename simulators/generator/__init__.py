"""A simulated X-ray generator behind a pseudo-terminal, with fault injection."""

from .model import GeneratorModel, GeneratorSpec, OnExposure, SimFault
from .pty import SimulatedGenerator

__all__ = ["GeneratorModel", "GeneratorSpec", "OnExposure", "SimFault", "SimulatedGenerator"]

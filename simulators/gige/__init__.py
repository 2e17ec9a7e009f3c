"""A simulated flat panel speaking GigE Vision on the wire (GVCP/GVSP over UDP).

Run it with ``panelgate simulate gige --address 127.0.0.1`` or from Python with
:class:`GigESimulator`; inject faults with :class:`FaultPlan`.
"""

from .device import GigESimulator, SimulatorConfig
from .faults import FaultPlan, parse_fault

__all__ = ["FaultPlan", "GigESimulator", "SimulatorConfig", "parse_fault"]

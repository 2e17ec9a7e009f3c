"""Presentation processing and image-quality measurement: pure numerics on linear images.

A sibling of :mod:`panelgate.calibration` and :mod:`panelgate.simulators`: it imports
only :mod:`panelgate.drivers`. The simulators never import it, so their phantoms and
optics stay the independent truth its measures are checked against.
"""

import logging

__all__: list[str] = []

logging.getLogger(__name__).addHandler(logging.NullHandler())

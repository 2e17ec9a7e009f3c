"""GigE Vision (GVCP control, GVSP streaming) driver, URL ``gige://HOST[:PORT]``.

The protocol modules (:mod:`.gvcp`, :mod:`.gvsp`, :mod:`.bootstrap`) are pure and are
shared with the simulated device in ``panelgate.simulators.gige``.
"""

from .control import GvcpClient, GvcpTiming
from .detector import GigEConfig, GigEDetector
from .discovery import DiscoveredDevice, discover
from .errors import GvcpStatusError, ProtocolError
from .features import FeatureMap
from .receiver import ReceiverPolicy

__all__ = [
    "DiscoveredDevice",
    "FeatureMap",
    "GigEConfig",
    "GigEDetector",
    "GvcpClient",
    "GvcpStatusError",
    "GvcpTiming",
    "ProtocolError",
    "ReceiverPolicy",
    "discover",
]

"""The station: one long-running service per radiography room, and its local HTTP API.

The top layer: it uses :mod:`panelgate.acquisition` (exposure workflow, agent,
configuration, command line) and is the only layer that serves HTTP. ``panelgate
station --config FILE`` runs it (:mod:`.server`); the API is described in :mod:`.api`
and at ``/api/openapi.json``; ``panelgate check-config FILE`` validates its
configuration (:mod:`.config`).
"""

import logging

from .config import StationConfig, StationSetup, load_station_config
from .service import Station

__all__ = ["Station", "StationConfig", "StationSetup", "load_station_config"]

logging.getLogger(__name__).addHandler(logging.NullHandler())

"""``[metrics]``: where the Prometheus endpoint listens (off unless a port is given).

Example::

    [metrics]
    host = "127.0.0.1"   # the scraper's side of an SSH tunnel, or a monitoring network
    port = 9464

The station also serves the same metrics at ``/metrics`` on its own port.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config_limits import AnyPort, Host
from .config_section import Section

__all__ = ["MetricsConfig"]


@dataclass(frozen=True)
class MetricsConfig(Section):
    """``[metrics]``: ``port`` 0 (the default) serves no metrics endpoint."""

    host: Host = "127.0.0.1"
    port: AnyPort = 0

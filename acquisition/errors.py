"""Errors of the top layer; see :mod:`panelgate.drivers.errors` for the whole tree.

:class:`UsageError` and :class:`ConfigError` live at the root of the tree (every layer may
refuse a value it was given); they are re-exported here for the commands.
"""

from __future__ import annotations

from panelgate.drivers.errors import ConfigError, PanelgateError, UsageError

__all__ = ["ConfigError", "UsageError", "WorklistEmpty"]


class WorklistEmpty(PanelgateError, LookupError):
    """The worklist has no scheduled step to perform (exit 1: the call itself was right)."""

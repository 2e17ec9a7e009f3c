"""Errors of the top layer; see :mod:`panelgate.drivers.errors` for the whole tree."""

from __future__ import annotations

from panelgate.drivers.errors import PanelgateError

__all__ = ["ConfigError", "UsageError", "WorklistEmpty"]


class ConfigError(PanelgateError, ValueError):
    """A configuration file is unreadable or invalid; the message lists every problem found."""


class UsageError(PanelgateError, ValueError):
    """A command-line argument is invalid."""


class WorklistEmpty(PanelgateError, LookupError):
    """The worklist has no scheduled step to perform (exit 1: the call itself was right)."""

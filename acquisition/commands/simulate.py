"""``panelgate simulate TARGET``: run a simulated device for test rigs.

Each target lives in a module ``simulate_<target>.py`` of this package that defines
``register_target(targets)``, adding its parser to the ``simulate`` sub-parsers and setting
``handler``.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from panelgate.acquisition import commands

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``simulate`` and every target found next to this module."""
    simulate = sub.add_parser(
        "simulate",
        help="run a simulated device (panel, generator) on its real wire protocol",
        description="Run a simulated device that test rigs drive over its real wire protocol.",
    )
    targets = simulate.add_subparsers(dest="target", metavar="TARGET", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("simulate_"):
            module = importlib.import_module(f"{commands.__name__}.{info.name}")
            module.register_target(targets)

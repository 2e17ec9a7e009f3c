"""The ``panelgate`` console script: every command, the station's included.

The command line lives in :mod:`panelgate.acquisition.cli` (one parser, one mapping of
errors to exit statuses, logging set up once), and that layer may not import this one.
So the console script points here: :func:`main` hands the station's commands
(``station``, ``check-config``, ``hash-password``) to ``acquisition.cli.main`` through its
``extra_commands`` hook, and everything else is exactly the acquisition layer's CLI. No
entry-point discovery and no import from below: the layering stays visible in the code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from panelgate.acquisition import cli

from .commands import register_check_config, register_station
from .password_command import register_hash_password

__all__ = ["COMMANDS", "main"]

COMMANDS = (register_station, register_check_config, register_hash_password)
"""The sub-commands this layer adds."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``panelgate`` with every command; returns the process exit status."""
    return cli.main(argv, extra_commands=COMMANDS)


if __name__ == "__main__":
    sys.exit(main())

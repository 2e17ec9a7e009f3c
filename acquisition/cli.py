"""The ``panelgate`` command line.

Exit status: 0 success; 1 the work failed (PACS unreachable, detector fault) with one line
on stderr saying what and where the data is; 2 a usage or configuration error, one line on
stderr; 130 interrupted. No traceback is shown for any of these (``--debug`` shows them).
Each sub-command lives in its own module of :mod:`panelgate.acquisition.commands`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from typing import NoReturn

from pynetdicom import _config as pynetdicom_config

from panelgate.drivers import PanelgateError

from . import commands
from .errors import UsageError

__all__ = ["build_parser", "main"]

_log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of every sub-command."""
    parser = _Parser(
        prog="panelgate",
        description="X-ray flat-panel acquisition and DICOM gateway agent.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``panelgate`` command; returns the process exit status."""
    args: argparse.Namespace | None = None
    try:
        args = build_parser().parse_args(argv)
        _configure_logging(args.verbose)
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("panelgate: interrupted", file=sys.stderr)
        return 130
    except PanelgateError as exc:
        if args is not None and args.debug:
            raise
        print(f"panelgate: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pynetdicom reports failed associations itself at ERROR; ours is the message that counts.
    logging.getLogger("pynetdicom").setLevel(logging.DEBUG if verbose >= 2 else logging.CRITICAL)
    pynetdicom_config.LOG_REQUEST_IDENTIFIERS = verbose >= 2  # no patient data above DEBUG
    pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = verbose >= 2  # worklist answers carry PHI


if __name__ == "__main__":
    sys.exit(main())

"""The ``panelgate`` command line.

Exit status (one function, :func:`exit_status`, decides it from the error's class; see
:mod:`panelgate.drivers.errors` for the tree):

====  ===========================================================================
0     success; also a long-running command stopped by SIGTERM, and a reader that
      closed the pipe (``panelgate outbox list | head``)
1     the work failed (PACS unreachable, detector fault, disk full) — one line on
      stderr saying what and where the data is
2     a usage or configuration error, refused before anything moved — one line on
      stderr naming the option, file or key
130   interrupted (SIGINT, Ctrl-C)
====  ===========================================================================

No traceback is shown for any of these (``--debug`` shows them). Each sub-command lives
in its own module of :mod:`panelgate.acquisition.commands`; ``-v``, ``-vv`` and
``--debug`` are accepted before or after the sub-command. A layer above this one adds its
own commands through ``extra_commands`` (:mod:`panelgate.station.cli` adds ``station`` and
``check-config``) without this module importing it.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

from pynetdicom import _config as pynetdicom_config

from panelgate.drivers import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    PanelgateError,
)

from . import commands
from .errors import UsageError
from .jsonlog import JsonFormatter

__all__ = ["build_parser", "exit_status", "main"]

_log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing usage and exiting.

    Its sub-parsers, to any depth, take the common options too.
    """

    def add_subparsers(self, **kwargs: Any) -> Any:
        kwargs.setdefault("parser_class", _Parser)
        return _Subcommands(super().add_subparsers(**kwargs), _common_options(top=False))

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("panelgate").strip()
        where = f"{command}: " if command else ""
        raise UsageError(f"{where}{message} (see '{self.prog} --help')")


class _Subcommands:
    """The sub-parsers, each given the common options (``-v``, ``--debug``) as well."""

    def __init__(self, sub: Any, common: argparse.ArgumentParser) -> None:
        self._sub = sub
        self._common = common

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("parents", [])
        kwargs["parents"] = [*kwargs["parents"], self._common]
        parser: argparse.ArgumentParser = self._sub.add_parser(name, **kwargs)
        return parser


def _common_options(*, top: bool) -> argparse.ArgumentParser:
    # After the sub-command, an option not given must not reset what was given before it.
    unset: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    common = _Parser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="count", help="more log output (-vv: debug)",
        **({"default": 0} if top else unset),
    )  # fmt: skip
    common.add_argument(
        "--debug", action="store_true", help="show tracebacks of errors",
        **({"default": False} if top else unset),
    )  # fmt: skip
    common.add_argument(
        "--log-format", choices=("text", "json"),
        help="log lines as text (default) or one JSON object per line",
        **({"default": "text"} if top else unset),
    )  # fmt: skip
    return common


def build_parser(
    extra_commands: Sequence[Callable[[Any], None]] = (),
) -> argparse.ArgumentParser:
    """Build the argument parser of every sub-command.

    Parameters
    ----------
    extra_commands : sequence of callable
        More ``register(subparsers)`` functions, from a layer above (the station's).
    """
    parser = _Parser(
        prog="panelgate",
        description="X-ray flat-panel acquisition and DICOM gateway agent.",
        parents=[_common_options(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"panelgate {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    for register in extra_commands:
        register(sub)
    return parser


def exit_status(exc: BaseException) -> int:
    """Map an error to the command's exit status (see the module's table).

    Our errors carry their status (:attr:`~panelgate.drivers.PanelgateError.exit_status`);
    of the foreign ones only an interrupt, a closed pipe and a file-system error are
    expected, everything else is a bug (exit 1).
    """
    if isinstance(exc, PanelgateError):
        return exc.exit_status
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return EXIT_OK
    return EXIT_FAILED


def main(
    argv: Sequence[str] | None = None, *, extra_commands: Sequence[Callable[[Any], None]] = ()
) -> int:
    """Run the ``panelgate`` command; returns the process exit status.

    ``extra_commands`` are passed to :func:`build_parser`.
    """
    args: argparse.Namespace | None = None
    try:
        args = build_parser(extra_commands).parse_args(argv)
        _configure_logging(args.verbose, args.log_format)
        return int(args.handler(args))
    except KeyboardInterrupt as exc:
        print("panelgate: interrupted", file=sys.stderr)
        return exit_status(exc)
    except BrokenPipeError as exc:
        _silence_stdout()  # the reader has gone: nothing more can be said there
        return exit_status(exc)
    except Exception as exc:
        if args is not None and args.debug:
            raise
        print(f"panelgate: error: {_message(exc)}", file=sys.stderr)
        return exit_status(exc)


def _message(exc: Exception) -> str:
    """One line for the user: our errors say it all; foreign ones get their type named."""
    if isinstance(exc, PanelgateError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        text = f"{exc.strerror}{where}"
        if exc.errno == errno.ENOSPC:
            text = f"no space left on the device{where}"
    else:
        text = f"unexpected {type(exc).__name__}: {exc} (a bug; --debug shows where)"
    while text.startswith("panelgate: "):  # a message already prefixed by a lower layer
        text = text.removeprefix("panelgate: ").removeprefix("error: ")
    return " ".join(text.split())


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _version() -> str:
    try:
        return version("panelgate")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _configure_logging(verbose: int, log_format: str = "text") -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    # pynetdicom reports failed associations itself at ERROR; ours is the message that counts.
    logging.getLogger("pynetdicom").setLevel(logging.DEBUG if verbose >= 2 else logging.CRITICAL)
    # pydicom logs a broken file's problems at WARNING; our one line names file and defect.
    logging.getLogger("pydicom").setLevel(logging.DEBUG if verbose >= 2 else logging.ERROR)
    pynetdicom_config.LOG_REQUEST_IDENTIFIERS = verbose >= 2  # no patient data above DEBUG
    pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = verbose >= 2  # worklist answers carry PHI


if __name__ == "__main__":
    sys.exit(main())

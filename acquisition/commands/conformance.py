"""``panelgate conformance``: print the DICOM Conformance Statement (PS3.2) of this version.

The statement is rendered from the tables the code negotiates with
(:mod:`panelgate.gateway.conformance`); ``docs/conformance-statement.md`` is its committed
copy, checked by a test.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from panelgate.acquisition.errors import UsageError
from panelgate.drivers.fsio import storage_error
from panelgate.gateway.conformance import render_statement

__all__ = ["register", "statement"]


def statement() -> str:
    """Render the conformance statement of the installed version as Markdown."""
    try:
        current = version("panelgate")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        current = "unknown"
    return render_statement(current)


def register(sub: Any) -> None:
    """Add the ``conformance`` sub-command to the parser's sub-parsers."""
    parser = sub.add_parser(
        "conformance",
        help="print the DICOM Conformance Statement (PS3.2)",
        description="Print the DICOM Conformance Statement of this version, generated from "
        "the SOP classes, transfer syntaxes and policies the code negotiates with.",
    )
    parser.add_argument("--out", type=Path, metavar="FILE", help="write it to FILE instead")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    text = statement()
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        args.out.write_text(text)
    except OSError as exc:
        raise UsageError(f"--out: {storage_error(exc, args.out)}") from exc
    print(f"conformance statement written to {args.out}")
    return 0

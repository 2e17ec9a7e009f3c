"""Machine-readable command output: one JSON document on stdout.

Commands that list or show something take ``--json``; they then print exactly one JSON
document and nothing else on stdout (errors stay one line on stderr). Keys are stable,
``snake_case``, and carry their unit (``age_s``, ``temp_c``, ``dose_ugy``); times are
ISO 8601 UTC strings; an unknown number is ``null``, never NaN. No patient data.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["JSON_HELP", "add_json_option", "finite", "print_json"]

JSON_HELP = "print one JSON document on stdout instead of text (its keys: see below)"
_EPILOG = "--json prints one document:\n"


class _KeysFormatter(argparse.HelpFormatter):
    """Wrap the description as usual, but keep the epilog's key list line by line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(_EPILOG):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_json_option(parser: argparse.ArgumentParser, keys: str) -> None:
    """Add ``--json`` to ``parser``, documenting the document's keys in its help epilog.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        A command's parser.
    keys : str
        The document's shape, one key per line, shown under ``--help``.
    """
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    parser.formatter_class = _KeysFormatter
    parser.epilog = _EPILOG + keys.strip("\n")


def finite(value: float) -> float | None:
    """Return ``value``, or None for NaN or infinity (JSON has no such numbers)."""
    return value if math.isfinite(value) else None


def print_json(document: Mapping[str, Any]) -> None:
    """Print ``document`` as one JSON document (sorted keys, indented) on stdout.

    Raises
    ------
    ValueError
        A NaN or infinite number in ``document`` (use :func:`finite`).
    """
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()

"""``panelgate send FILE|DIR ... --to NAME``: queue existing DICOM files for delivery.

Each file is parsed completely and its Pixel Data checked before it is copied into the
outbox (idempotent by SOP Instance UID); a running ``panelgate agent`` with the same
configuration delivers them. A file named on the command line that cannot be queued is the
command's error (exit 1, or 2 for a usage error). Under a folder, every entry that cannot be
queued (not DICOM, truncated, undecodable, unreadable, a dangling link, a link loop, a
FIFO) is named on stderr with its defect and skipped; the others are queued; exit 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from panelgate.acquisition.agent import open_outbox
from panelgate.acquisition.config import load_config
from panelgate.acquisition.inputs import Entry, walk_files
from panelgate.drivers import EXIT_FAILED, EXIT_OK, UsageError
from panelgate.gateway import InvalidInstance, OutboxError
from panelgate.gateway.errors import OutboxFull, UnknownDestination
from panelgate.gateway.outbox import Outbox

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``send`` sub-command to the parser's sub-parsers."""
    send = sub.add_parser(
        "send",
        help="queue DICOM files for delivery to a destination",
        description="Copy DICOM Part-10 files (directories are searched recursively) into the "
        "outbox for delivery by 'panelgate agent'.",
    )
    send.add_argument("paths", nargs="+", type=Path, metavar="FILE|DIR")
    send.add_argument(
        "--to", required=True, action="append", metavar="NAME", help="destination (repeatable)"
    )
    send.add_argument(
        "--config", type=Path, required=True, metavar="FILE", help="TOML configuration file"
    )
    send.set_defaults(handler=_send)


def _send(args: argparse.Namespace) -> int:
    outbox = open_outbox(load_config(args.config))
    unknown = [n for n in args.to if n not in outbox.destinations]
    if unknown:
        raise UnknownDestination(
            f"unknown destination {', '.join(unknown)} (known: {', '.join(outbox.destinations)})"
        )
    queued, skipped = 0, 0
    for given in args.paths:
        if not given.exists() and not given.is_symlink():
            raise UsageError(f"{given}: no such file or directory")
        in_folder = given.is_dir()
        for entry in walk_files(given):
            try:
                _queue(outbox, entry, args.to)
            except OutboxFull:
                raise
            except (OutboxError, InvalidInstance) as exc:
                if not in_folder:
                    raise  # a file named on the command line: its error is the command's
                print(f"panelgate send: skipped {_one_line(exc)}", file=sys.stderr)
                skipped += 1
                continue
            queued += 1
    also = f"; {skipped} skipped (see above)" if skipped else ""
    print(f"panelgate send: {queued} instance(s) queued for {', '.join(args.to)}{also}", flush=True)
    return EXIT_FAILED if skipped else EXIT_OK


def _queue(outbox: Outbox, entry: Entry, destinations: list[str]) -> None:
    """Queue one file found by the walk, or raise what is wrong with it (naming it)."""
    if entry.problem:
        raise OutboxError(f"{entry.path}: {entry.problem}")
    outbox.enqueue_file(entry.path, destinations)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())

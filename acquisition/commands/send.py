"""``panelgate send FILE|DIR ... --to NAME``: queue existing DICOM files for delivery.

Files are copied into the outbox (idempotent by SOP Instance UID); a running
``panelgate agent`` with the same configuration delivers them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from panelgate.acquisition.agent import open_outbox
from panelgate.acquisition.config import load_config
from panelgate.gateway import OutboxError
from panelgate.gateway.errors import OutboxFull, UnknownDestination

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
        if not given.exists():
            raise OutboxError(f"{given}: no such file or directory")
        files = sorted(p for p in given.rglob("*") if p.is_file()) if given.is_dir() else [given]
        for path in files:
            try:
                outbox.enqueue_file(path, args.to)
            except OutboxFull:
                raise
            except OutboxError as exc:
                if not given.is_dir():
                    raise
                print(f"panelgate send: skipped {path}: {exc}", file=sys.stderr)
                skipped += 1
                continue
            queued += 1
    print(f"panelgate send: {queued} instance(s) queued for {', '.join(args.to)}", flush=True)
    return 1 if skipped else 0

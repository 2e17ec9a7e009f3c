"""``panelgate outbox list|retry|purge``: inspect and manage the delivery spool."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from panelgate.acquisition.agent import open_outbox
from panelgate.acquisition.config import load_config
from panelgate.gateway.outbox import State

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``outbox`` sub-command and its actions to the parser's sub-parsers."""
    outbox = sub.add_parser(
        "outbox",
        help="list, retry or purge the delivery spool",
        description="Inspect and manage the outbox of the configuration's [outbox] directory.",
    )
    actions = outbox.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="instances per destination and state")
    listing.add_argument(
        "--state", choices=[s.value for s in State], help="only instances in this state"
    )
    retry = actions.add_parser("retry", help="send failed (dead letter) instances again")
    purge = actions.add_parser("purge", help="forget committed or failed instances")
    purge.add_argument(
        "--state",
        choices=[State.COMMITTED.value, State.FAILED.value],
        required=True,
        help="which instances to forget (their files are deleted)",
    )
    for parser in (listing, retry, purge):
        parser.add_argument(
            "--config", type=Path, required=True, metavar="FILE", help="TOML configuration file"
        )
        parser.add_argument("--to", metavar="NAME", help="only this destination")
    listing.set_defaults(handler=_list)
    retry.set_defaults(handler=_retry)
    purge.set_defaults(handler=_purge)


def _list(args: argparse.Namespace) -> int:
    outbox = open_outbox(load_config(args.config))
    state = State(args.state) if args.state else None
    for name, counts in outbox.counts().items():
        if args.to and name != args.to:
            continue
        print(f"{name}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for r in outbox.records(args.to, state):
        when = dt.datetime.fromtimestamp(r.updated_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        reason = f"  {r.reason}" if r.reason else ""
        print(
            f"{r.destination:<12} {r.state.value:<9} {r.sop_instance_uid}  "
            f"attempts={r.attempts} {when}{reason}"
        )
    return 0


def _retry(args: argparse.Namespace) -> int:
    moved = open_outbox(load_config(args.config)).retry(args.to)
    print(f"panelgate outbox: {len(moved)} failed instance(s) queued again")
    return 0


def _purge(args: argparse.Namespace) -> int:
    removed = open_outbox(load_config(args.config)).purge(State(args.state), args.to)
    print(f"panelgate outbox: {removed} {args.state} record(s) purged")
    return 0

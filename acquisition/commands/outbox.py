"""``panelgate outbox list|status|retry|purge``: inspect and manage the delivery spool.

``list`` and ``status`` take ``--json`` (see :mod:`panelgate.acquisition.jsonout`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path
from typing import Any

from panelgate.acquisition.agent import open_outbox
from panelgate.acquisition.config import load_config
from panelgate.acquisition.jsonout import add_json_option, print_json
from panelgate.acquisition.outbox_status import outbox_status
from panelgate.gateway.outbox import Record, State

__all__ = ["LIST_KEYS", "STATUS_KEYS", "register"]

_STATES = "pending, inflight, sent, committed, failed"
LIST_KEYS = f"""
  destinations {{name: {{state: count}}}}   states: {_STATES}
  instances[]  oldest first, each: destination, state, sop_instance_uid, attempts,
               enqueued_utc, updated_utc (ISO 8601), reason ("" after success)
"""
STATUS_KEYS = f"""
  checked_utc  when the outbox was read (ISO 8601)
  destinations {{name: {{counts {{state: count}}, oldest_pending_age_s}}}}
               states: {_STATES}; oldest_pending_age_s: seconds since the oldest
               pending instance was queued, null when none is pending
  orphans[]    SOP Instance UIDs of files set aside because no destination was
               recorded for them (a 'send' killed mid-way): never sent
"""


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
    add_json_option(listing, LIST_KEYS)
    status = actions.add_parser(
        "status",
        help="per destination: instances per state, age of the oldest pending one",
        description="How delivery stands, read from the outbox (with or without a running "
        "agent): per destination the instances in each state and how long ago the oldest "
        "pending one was queued.",
    )
    add_json_option(status, STATUS_KEYS)
    retry = actions.add_parser("retry", help="send failed (dead letter) instances again")
    purge = actions.add_parser("purge", help="forget committed or failed instances")
    purge.add_argument(
        "--state",
        choices=[State.COMMITTED.value, State.FAILED.value],
        required=True,
        help="which instances to forget (their files are deleted)",
    )
    for parser in (listing, status, retry, purge):
        parser.add_argument(
            "--config", type=Path, required=True, metavar="FILE", help="TOML configuration file"
        )
        parser.add_argument("--to", metavar="NAME", help="only this destination")
    listing.set_defaults(handler=_list)
    status.set_defaults(handler=_status)
    retry.set_defaults(handler=_retry)
    purge.set_defaults(handler=_purge)


def _utc(unix_s: float) -> str:
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _listed(r: Record) -> dict[str, Any]:
    return {
        "destination": r.destination,
        "state": r.state.value,
        "sop_instance_uid": r.sop_instance_uid,
        "attempts": r.attempts,
        "enqueued_utc": _utc(r.enqueued_at),
        "updated_utc": _utc(r.updated_at),
        "reason": r.reason,
    }


def _list(args: argparse.Namespace) -> int:
    outbox = open_outbox(load_config(args.config))
    state = State(args.state) if args.state else None
    if args.json:
        per_state = {n: c for n, c in outbox.counts().items() if not args.to or n == args.to}
        records = [_listed(r) for r in outbox.records(args.to, state)]
        print_json({"destinations": per_state, "instances": records})
        return 0
    for name, counts in outbox.counts().items():
        if args.to and name != args.to:
            continue
        print(f"{name}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for r in outbox.records(args.to, state):
        reason = f"  {r.reason}" if r.reason else ""
        print(
            f"{r.destination:<12} {r.state.value:<9} {r.sop_instance_uid}  "
            f"attempts={r.attempts} {_utc(r.updated_at)}{reason}"
        )
    return 0


def _status(args: argparse.Namespace) -> int:
    outbox = open_outbox(load_config(args.config))
    if args.to:
        outbox.records(args.to)  # an unknown name is refused (exit 2) like everywhere else
    now_s = time.time()
    found = [s for s in outbox_status(outbox, now_s) if not args.to or s.name == args.to]
    if args.json:
        destinations = {s.name: s.as_json() for s in found}
        uids = [p.stem for p in outbox.orphans()]
        print_json({"checked_utc": _utc(now_s), "destinations": destinations, "orphans": uids})
        return 0
    for s in found:
        print(s.line())
    if orphans := outbox.orphans():
        print(
            f"orphans: {len(orphans)} file(s) nobody queued, set aside (not sent) in "
            f"{orphans[0].parent}"
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

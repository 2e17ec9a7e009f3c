"""``panelgate agent --config FILE``: the gateway service, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from pynetdicom import _config as pynetdicom_config

from panelgate.acquisition.agent import Agent
from panelgate.acquisition.config import load_config
from panelgate.acquisition.stopping import StopSignals

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``agent`` sub-command to the parser's sub-parsers."""
    agent = sub.add_parser(
        "agent",
        help="run the gateway service (outbox delivery, commitment listener)",
        description="Deliver the outbox to every configured destination, with retries and "
        "Storage Commitment, until SIGTERM; in-flight instances are finished first.",
    )
    agent.add_argument(
        "--config", type=Path, required=True, metavar="FILE", help="TOML configuration file"
    )
    agent.add_argument("--seed", type=int, help=argparse.SUPPRESS)  # backoff jitter, tests
    agent.set_defaults(handler=_agent)


def _agent(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    service = Agent(config, seed=args.seed)
    # Stream Part-10 files from the spool without decoding them (PS3.7 P-DATA fragments);
    # a process-wide pynetdicom switch, so it is set for the agent's lifetime only.
    chunked = pynetdicom_config.STORE_SEND_CHUNKED_DATASET
    pynetdicom_config.STORE_SEND_CHUNKED_DATASET = True
    # No patient data in logs above DEBUG: pynetdicom logs C-FIND answers at INFO.
    pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = args.verbose >= 2
    try:
        with StopSignals() as signals:
            _serve(service, signals.stop)
        return signals.exit_status
    finally:
        pynetdicom_config.STORE_SEND_CHUNKED_DATASET = chunked


def _serve(service: Agent, stop: threading.Event) -> None:
    config = service.config
    service.start()
    names = ", ".join(f"{n} ({d})" for n, d in service.destinations.items())
    listening = (
        f"; listening as {service.listener.ae_title} on port {service.listener.port}"
        if config.listener
        else ""
    )
    print(f"panelgate agent: delivering {service.outbox.root} to {names}{listening}", flush=True)
    try:
        service.serve(stop)
    finally:
        service.stop()
    counts = service.outbox.counts()
    summary = "; ".join(
        f"{n}: " + ", ".join(f"{v} {k}" for k, v in c.items() if v) for n, c in counts.items()
    )
    print(f"panelgate agent: stopped ({summary or 'outbox empty'})", flush=True)

"""``panelgate pacs``: the embedded Storage SCP on its own."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from panelgate.acquisition.stopping import StopSignals
from panelgate.gateway.pacs import EmbeddedPacs

from .args import ae_title, port

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``pacs`` sub-command to the parser's sub-parsers."""
    pacs = sub.add_parser(
        "pacs",
        help="run the embedded Storage SCP",
        description="Receive DICOM instances (C-STORE) and file them as DIR/<SOPInstanceUID>.dcm "
        "until interrupted.",
    )
    pacs.add_argument(
        "--port", type=port, required=True, metavar="N", help="TCP port (0: any free port)"
    )
    pacs.add_argument(
        "--dir", type=Path, required=True, metavar="DIR", help="where instances are filed"
    )
    pacs.add_argument(
        "--ae-title",
        type=ae_title,
        default="PANELGATE-PACS",
        metavar="T",
        help="our AE title (default PANELGATE-PACS)",
    )
    pacs.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    pacs.set_defaults(handler=_pacs)


def _pacs(args: argparse.Namespace) -> int:
    with (
        StopSignals() as signals,
        EmbeddedPacs(args.dir, ae_title=args.ae_title, host=args.host, port=args.port) as pacs,
    ):
        print(
            f"panelgate pacs: {pacs.ae_title} listening on {args.host}:{pacs.port}, "
            f"filing into {args.dir}",
            flush=True,
        )
        signals.wait()
    print(f"panelgate pacs: stopped after receiving {len(pacs.received)} instance(s)", flush=True)
    return signals.exit_status

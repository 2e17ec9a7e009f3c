"""``panelgate dose --study UID``: the dose of a study, per exposure and accumulated.

Reads the exposure log that ``panelgate expose`` (and the station) keep beside their
images (``<out>/dose/<StudyInstanceUID>/``): one line per irradiation event, rejected
exposures included, then the totals. ``--queue`` builds the study's X-Ray Radiation Dose
SR from the log and queues it in the outbox for delivery with the images.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from panelgate.acquisition.agent import open_outbox
from panelgate.acquisition.config import Config, load_config
from panelgate.acquisition.dose_report import queue_study_report
from panelgate.acquisition.exposure_log import ExposureLog, StudyDose
from panelgate.acquisition.jsonout import print_json
from panelgate.drivers import EXIT_OK
from panelgate.gateway.outbox import Outbox

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``dose`` sub-command to the parser's sub-parsers."""
    p = sub.add_parser(
        "dose",
        help="print the dose of a study (per exposure and accumulated); queue its dose SR",
        description="Print the dose of every exposure of a study from the exposure log "
        "(DAP in dGy·cm², entrance dose in mGy, EI/DI) and the accumulated dose; with "
        "--queue, also queue the study's X-Ray Radiation Dose SR for delivery.",
    )
    p.add_argument("--study", required=True, metavar="UID", help="Study Instance UID")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("panelgate-exposures"),
        metavar="DIR",
        help="the folder 'panelgate expose --out' wrote into (its dose/ holds the log; "
        "default panelgate-exposures)",
    )
    p.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    p.add_argument("--queue", action="store_true", help="queue the study's dose SR")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_dose)


def _dose(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else Config()
    log = ExposureLog(args.out / "dose")
    logged = log.read_study(args.study)
    queued = ""
    if args.queue:
        queued = queue_study_report(_outbox(args, config), log, args.study, config)
    if args.json:
        print_json(_document(logged, queued))
    else:
        _print(logged, queued)
    return EXIT_OK


def _outbox(args: argparse.Namespace, config: Config) -> Outbox:
    """Return the outbox 'panelgate expose' used: the configured one, else --out's."""
    if args.config is not None:
        return open_outbox(config)
    return Outbox(args.out / "outbox", ["pacs"], reserve_bytes=config.outbox.reserve_bytes)


def _document(logged: StudyDose, queued: str) -> dict[str, Any]:
    return {
        "study_instance_uid": logged.study.study_instance_uid,
        "events": [
            {
                "irradiation_event_uid": e.irradiation_event_uid,
                "started": e.started.isoformat(),
                "protocol": e.acquisition_protocol,
                "kvp": e.kvp,
                "tube_current_ma": e.tube_current_ma,
                "exposure_time_ms": e.exposure_time_ms,
                "exposure_mas": e.exposure_mas,
                "dap_dgycm2": e.dose.dap_dgycm2,
                "dap_source": e.dose.dap_source,
                "entrance_dose_mgy": e.dose.entrance_dose_mgy,
                "exposure_index": e.exposure_index,
                "deviation_index": e.deviation_index,
                "sop_instance_uid": e.sop_instance_uid,
            }
            for e in logged.events
        ],
        "total_dap_dgycm2": logged.total_dap_dgycm2,
        "total_entrance_dose_mgy": logged.total_entrance_dose_mgy,
        "dose_sr_queued": queued or None,
    }


def _print(logged: StudyDose, queued: str) -> None:
    print(f"study {logged.study.study_instance_uid}: {len(logged.events)} exposure(s)")
    print(
        f"  {'#':>2} {'started':<19} {'protocol':<10} {'kV':>6} {'mA':>6} {'ms':>7} "
        f"{'mAs':>6} {'DAP dGy·cm²':>11} {'ESD mGy':>8} {'EI':>6} {'DI':>5}  DAP from"
    )
    for n, e in enumerate(logged.events, 1):
        started = e.started.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        ei = f"{e.exposure_index:.0f}" if e.exposure_index is not None else "-"
        di = f"{e.deviation_index:+.1f}" if e.deviation_index is not None else "-"
        print(
            f"  {n:>2} {started:<19} {e.acquisition_protocol:<10} {e.kvp:>6.1f} "
            f"{e.tube_current_ma:>6.1f} {e.exposure_time_ms:>7.2f} {e.exposure_mas:>6.3f} "
            f"{e.dose.dap_dgycm2:>11.4f} {e.dose.entrance_dose_mgy:>8.4f} {ei:>6} {di:>5}  "
            f"{e.dose.dap_source}"
        )
        print(f"     event {e.irradiation_event_uid}")
    print(
        f"total: DAP {logged.total_dap_dgycm2:.4f} dGy·cm², "
        f"entrance dose {logged.total_entrance_dose_mgy:.4f} mGy"
    )
    if queued:
        print(f"dose SR {queued} queued for delivery")

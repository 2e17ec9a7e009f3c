"""``panelgate station`` and ``panelgate check-config``, registered by :mod:`.cli`.

``station [--config FILE]`` runs the service until SIGTERM (exit 0) or SIGINT (130);
``check-config [FILE]`` validates a configuration the way the station will (every problem
in one line, exit 2) and says what the station would open, without opening it (exit 0).
Both read :data:`~.config.DEFAULT_CONFIG` when no file is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from panelgate.acquisition.agent import destinations_of
from panelgate.acquisition.calibration_lifecycle import calibration_store

from .config import DEFAULT_CONFIG, StationSetup, load_station_config
from .devices import panel_url, room_of
from .server import run_station
from .startup import StartupPhases

__all__ = ["describe", "register_check_config", "register_station"]


def register_station(sub: Any) -> None:
    """Add the ``station`` sub-command."""
    p = sub.add_parser(
        "station",
        help="run the room's service: devices, exposures, delivery, local HTTP API",
        description="Own the detector, the generator link, the calibration, the worklist "
        "client, the outbox workers and the Storage Commitment listener of one room, and "
        "serve the HTTP API until SIGTERM (exit 0, after the exposure in progress) or "
        f"Ctrl-C (130). Without --config: {DEFAULT_CONFIG}.",
    )
    p.add_argument(
        "--config", type=Path, default=None, metavar="FILE",
        help=f"TOML configuration (default {DEFAULT_CONFIG})",
    )  # fmt: skip
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)  # backoff jitter, tests
    p.set_defaults(handler=_station)


def register_check_config(sub: Any) -> None:
    """Add the ``check-config`` sub-command."""
    p = sub.add_parser(
        "check-config",
        help="validate a station configuration and say what it would open",
        description="Validate every section (one line naming each problem, exit 2) and "
        "list the devices, peers and folders the station would use; nothing is opened.",
    )
    p.add_argument(
        "file", type=Path, nargs="?", default=None, metavar="FILE",
        help=f"TOML configuration (default {DEFAULT_CONFIG})",
    )  # fmt: skip
    p.set_defaults(handler=_check_config)


def _station(args: argparse.Namespace) -> int:
    startup = StartupPhases()
    startup.add("interpreter and imports", 0.0, startup.now_s())
    with startup.phase("config"):
        setup = load_station_config(args.config)
    return run_station(setup, seed=args.seed, startup=startup)


def _check_config(args: argparse.Namespace) -> int:
    setup = load_station_config(args.file)
    destinations_of(setup.config)  # the station delivers somewhere: refuses none
    print(f"panelgate check-config: {setup.source} is valid")
    for key, value in describe(setup):
        print(f"  {key + ':':<14}{value}")
    return 0


def describe(setup: StationSetup) -> list[tuple[str, str]]:
    """Say what the station would open with this configuration, one line per part."""
    config, st = setup.config, setup.station
    scheme = "https" if st.tls else "http"
    token = "bearer token required" if st.api_token_file else "no token"
    if setup.users:
        token += f"; login: {', '.join(u.name for u in setup.users)}"
    url = panel_url(config.detector.url, st)
    if st.generator == "sim":
        generator = f"simulated, in the process, in the X-ray room {room_of(url) or st.room_path}"
    elif st.generator == "none":
        generator = "none (no generator link: fired at the console, detected by the panel)"
    else:
        generator = f"serial port {st.generator}"
    calibration = (
        f"quick calibration at start-up (simulated panel only, {st.quick_calibration_frames} "
        "darks and floods)"
        if st.quick_calibration
        else f"stored sets in {calibration_store(config.calibration).root}"
    )
    wl = config.worklist
    worklist = (
        f"{wl.called_ae}@{wl.host}:{wl.port} (C-FIND as {config.dicom.calling_ae})"
        if wl
        else "none"
    )
    lc = config.listener
    listener = (
        f"{lc.ae_title} on {lc.host}:{lc.port}" + (" (TLS)" if lc.tls_ca_file else "")
        if lc
        else "none (no Storage Commitment reports)"
    )
    destinations = ", ".join(
        f"{name} ({d}{', commitment' if d.commitment else ''})"
        for name, d in destinations_of(config).items()
    )
    return [
        ("API", f"{scheme}://{st.host}:{st.port}/api/ ({token})"),
        ("detector", url),
        ("generator", f"{generator}; trigger {st.trigger}"),
        ("calibration", calibration),
        ("worklist", worklist),
        ("destinations", destinations),
        ("listener", listener),
        ("outbox", f"{config.outbox.directory} (reserve {config.outbox.reserve_mb:g} MB)"),
        ("images", f"{st.state_path / 'images'} (review: "
                   f"{'accepted automatically' if st.auto_accept else 'accept or reject'})"),
    ]  # fmt: skip

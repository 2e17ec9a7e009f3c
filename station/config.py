"""The station's configuration: the ``[station]`` section beside the agent's sections.

``panelgate station`` reads one TOML file. ``[[protocols]]`` is the protocol table
(:mod:`.protocols`), ``[[users]]`` who may log in to the console (:mod:`.auth`). Every
section the other commands know (``[detector]``, ``[dicom]``, ``[worklist]``, ``[outbox]``,
``[listener]``, ``[destinations.NAME]``...) is validated by
:func:`panelgate.acquisition.config.parse_config`; ``[station]`` belongs to this layer and
is validated here, and the problems of both are reported together in one
:class:`ConfigError` line, as the loader does for its own.

Example::

    [station]
    host = "127.0.0.1"          # the HTTP API; any other address needs TLS and [[users]]
    port = 8470
    generator = "/dev/ttyUSB0"  # "sim": simulated, in the process; "none": no link (AED)
    trigger = "software"        # "generator" (sync cable) or "aed" (the panel detects the beam)
    state_dir = "/var/lib/panelgate"
    # tls_cert_file = "/etc/panelgate/station.crt"
    # tls_key_file = "/etc/panelgate/station.key"
    # api_token_file = "/etc/panelgate/api-token"   # mode 0600: "Authorization: Bearer ..."

Without ``--config`` the station reads :data:`DEFAULT_CONFIG`. Without ``[outbox]
directory`` the outbox is ``<state_dir>/outbox``: the spool lives under
``/var/lib/panelgate`` by default.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import ssl
import stat
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from panelgate.acquisition.config import Config, parse_config
from panelgate.acquisition.config_limits import AnyPort, Host, InRange, NonEmpty, OneOf, Seconds
from panelgate.acquisition.config_section import InvalidSection, Problems, Section
from panelgate.acquisition.errors import ConfigError

from .auth import User, parse_users
from .protocols import DEFAULT_PROTOCOLS, ProtocolTable, parse_protocols

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_STATE_DIR",
    "StationConfig",
    "StationSetup",
    "is_loopback",
    "load_station_config",
    "parse_station_config",
]

DEFAULT_CONFIG = Path("/etc/panelgate/panelgate.toml")
"""The configuration ``panelgate station`` and ``check-config`` read without a FILE."""
DEFAULT_STATE_DIR = "/var/lib/panelgate"
"""Where the station keeps images, previews and (by default) its outbox."""

TRIGGERS = ("software", "generator", "aed")


def is_loopback(host: str) -> bool:
    """Return True when ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tls_problems(cert: str, key: str) -> Problems:
    if not (cert or key):
        return []
    if not (cert and key):
        missing = "tls_cert_file" if not cert else "tls_key_file"
        return [(missing, "is needed: HTTPS needs a certificate and its key")]
    for name, path in (("tls_cert_file", cert), ("tls_key_file", key)):
        if not os.access(path, os.R_OK) or not Path(path).is_file():
            return [(name, f"{path!r}: not a readable file")]
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=lambda: b"")
    except (ssl.SSLError, OSError) as exc:
        return [("tls_key_file", f"{cert!r} and {key!r} are no usable PEM pair ({exc})")]
    return []


def _token_problems(path: str) -> Problems:
    if not path:
        return []
    try:
        info = os.stat(path)
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        return [("api_token_file", f"{path!r}: cannot be read ({exc})")]
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [("api_token_file", f"{path!r} is readable by others: chmod 600 it")]
    if len(text) < 16:
        return [("api_token_file", f"{path!r} must hold a token of 16 characters or more")]
    return []


@dataclass(frozen=True)
class StationConfig(Section):
    """``[station]``: the HTTP API, the generator link and where the station keeps its data.

    Parameters
    ----------
    host, port : str, int
        Where the HTTP API listens; port 0 picks a free one (printed at start-up). Any
        host but loopback requires ``tls_cert_file``, ``tls_key_file`` and ``[[users]]``
        (a login; ``api_token_file`` may be added for API clients).
    generator : str
        Serial port of the X-ray generator; ``sim``: a simulated generator in the process,
        whose beam reaches the simulated panels of the room ``<state_dir>/room`` (or of
        the ``room=`` the panel's URL names); ``none``: no generator link (the
        technician fires at the generator's console; needs ``trigger = "aed"``).
    trigger : str
        ``software``, ``generator`` or ``aed``: who starts the readout (``TriggerMode``).
    state_dir : str
        Images awaiting review, previews, data kept after a failure, the simulated room;
        the default outbox.
    auto_accept : bool
        Queue every image for delivery as soon as it is made (no review step).
    quick_calibration : bool
        Calibrate a *simulated* panel at start-up from a few darks and floods instead of
        using the stored set (a demo without ``panelgate calibrate``); refused for a
        real panel.
    quick_calibration_frames : int
        Darks and floods of that quick calibration.
    idle_check_s : float
        How often an idle station looks at its devices (a lost link is reconnected) and
        at its dark map (a stale one is refreshed, ``[calibration] dark_max_age_s``).
    reconnect_max_wait_s : float
        Longest wait between two attempts to reconnect a lost detector (the waits double
        from 0.25 s up to it).
    ready_hold_s : float
        Longest wait at READY (``POST /api/prepare``) for the second stage
        (``POST /api/expose``); then the prepared exposure is released, nothing fired.
    session_max_s, session_idle_s : float
        A console login ends this long after it began, or after this long without a
        request (:mod:`.auth`); 8 h and 30 min by default.
    tls_cert_file, tls_key_file : str
        PEM certificate and key: the API is served over HTTPS.
    api_token_file : str
        A file (mode 0600) holding the bearer token every request must carry.
    """

    host: Host = "127.0.0.1"
    port: AnyPort = 8470
    generator: Annotated[str, NonEmpty()] = "sim"
    trigger: Annotated[str, OneOf(TRIGGERS)] = "software"
    state_dir: Annotated[str, NonEmpty()] = DEFAULT_STATE_DIR
    auto_accept: bool = False
    quick_calibration: bool = False
    quick_calibration_frames: Annotated[int, InRange(2, 1024)] = 4
    idle_check_s: Seconds = 2.0
    reconnect_max_wait_s: Seconds = 4.0
    ready_hold_s: Seconds = 30.0
    session_max_s: Seconds = 8 * 3600.0
    session_idle_s: Seconds = 1800.0
    tls_cert_file: str = ""
    tls_key_file: str = ""
    api_token_file: str = ""

    @property
    def state_path(self) -> Path:
        """:attr:`state_dir` as a path."""
        return Path(self.state_dir)

    @property
    def room_path(self) -> Path:
        """The simulated X-ray room of ``generator = "sim"`` when the panel names none."""
        return self.state_path / "room"

    @property
    def tls(self) -> bool:
        """True when the API is served over HTTPS."""
        return bool(self.tls_cert_file and self.tls_key_file)

    def api_token(self) -> str | None:
        """Return the bearer token, or None when requests need none."""
        if not self.api_token_file:
            return None
        return Path(self.api_token_file).read_text(encoding="utf-8").strip()

    def _joint_problems(self) -> Problems:
        problems = _tls_problems(self.tls_cert_file, self.tls_key_file)
        problems += _token_problems(self.api_token_file)
        if self.generator == "none" and self.trigger != "aed":
            problems.append(
                ("generator", '"none" (no generator link) needs trigger = "aed": the panel '
                 "must detect the beam fired at the generator's console")
            )  # fmt: skip
        return problems


@dataclass(frozen=True)
class StationSetup:
    """A validated station configuration: the shared sections, ``[station]``, the protocols."""

    config: Config
    station: StationConfig = field(default_factory=StationConfig)
    source: str = "<config>"
    protocols: ProtocolTable = field(default_factory=lambda: ProtocolTable(DEFAULT_PROTOCOLS))
    users: tuple[User, ...] = ()


def load_station_config(path: Path | None = None) -> StationSetup:
    """Read and validate the station's TOML file (:data:`DEFAULT_CONFIG` when None).

    Raises
    ------
    ConfigError
        The file cannot be read or is not TOML, or any section is invalid; every problem
        of every section is named in the one message.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"configuration {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration {path} is not valid TOML: {exc}") from None
    return parse_station_config(data, source=str(path))


def parse_station_config(data: dict[str, Any], source: str = "<config>") -> StationSetup:
    """Validate parsed TOML: ``[station]`` here, the rest by the shared loader.

    Raises
    ------
    ConfigError
        Every problem, of ``[station]`` and of the other sections, in one message.
    """
    data = dict(data)
    table = data.pop("station", {})
    problems: list[str] = []
    station = _parse_station(table, problems)
    protocols, protocol_problems = parse_protocols(data.pop("protocols", None))
    problems += protocol_problems
    users, user_problems = parse_users(data.pop("users", None))
    problems += user_problems
    host = table.get("host", "127.0.0.1") if isinstance(table, dict) else "127.0.0.1"
    tls = isinstance(table, dict) and bool(table.get("tls_cert_file") and table.get("tls_key_file"))
    if isinstance(host, str) and not is_loopback(host) and not (tls and users):
        problems.append(
            f"[station] host {host!r} is not loopback: serving the API beyond this "
            "machine needs TLS (tls_cert_file, tls_key_file) and a login ([[users]]; "
            "api_token_file besides for API clients)"
        )
    state_dir = station.state_dir if station is not None else DEFAULT_STATE_DIR
    outbox = data.get("outbox", {})
    if isinstance(outbox, dict) and "directory" not in outbox:
        data["outbox"] = {**outbox, "directory": str(Path(state_dir) / "outbox")}
    config: Config | None = None
    try:
        config = parse_config(data, source=source)
    except ConfigError as exc:
        problems.insert(0, str(exc).removeprefix(f"{source}: "))
    if problems or config is None or station is None or protocols is None:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return StationSetup(config, station, source, protocols, users)


def _parse_station(table: Any, problems: list[str]) -> StationConfig | None:
    if not isinstance(table, dict):
        problems.append(f"[station] must be a table, got {type(table).__name__}")
        return None
    hints = typing.get_type_hints(StationConfig)
    known = {f.name for f in dataclasses.fields(StationConfig)}
    kwargs: dict[str, Any] = {}
    for key, raw in table.items():
        if key not in known:
            problems.append(f"unknown key [station] {key} (known: {', '.join(sorted(known))})")
            continue
        expected = hints[key]
        value = float(raw) if expected is float and type(raw) is int else raw
        if type(value) is not expected:
            problems.append(
                f"[station] {key} must be {expected.__name__}, got {type(raw).__name__} {raw!r}"
            )
            continue
        kwargs[key] = value
    try:
        return StationConfig(**kwargs)
    except InvalidSection as exc:
        problems.extend(f"[station] {key} {problem}" for key, problem in exc.problems)
        return None

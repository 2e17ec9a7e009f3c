"""Typed, frozen configuration read from TOML (stdlib :mod:`tomllib`).

Every section is a frozen dataclass; the loader checks every key and type and reports all
problems at once in one :class:`ConfigError` that names the file, section and key. Unknown
keys are errors, never ignored: a typo must not silently fall back to a default.

Example::

    [detector]
    url = "sim://"
    exposure_s = 0.1

    [calibration]
    dark_frames = 16
    flood_frames = 16
    dark_max_age_s = 600.0
    gain_max_age_days = 30.0

    [dicom]
    uid_root = "1.2.826.0.1.3680043.8.498."
    station_name = "DR ROOM 1"

    [pacs]
    host = "127.0.0.1"
    port = 4242
    called_ae = "ORTHANC"
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from panelgate.gateway.dicom.identifiers import normalise_uid_root

from .audit_config import AuditConfig
from .config_limits import (
    AETitle,
    Count,
    DicomText,
    InRange,
    NonEmpty,
    NonNegativeFloat,
    OneOf,
    PositiveFloat,
    Seconds,
    UidRoot,
)
from .config_section import InvalidSection, Problems, Section
from .dose_config import DoseConfig
from .errors import ConfigError
from .gateway_config import DestinationConfig, ListenerConfig, OutboxConfig, RetryConfig
from .metrics_config import MetricsConfig
from .mpps_config import MppsConfig
from .peer_config import DicomPeerConfig
from .processing_config import ProcessingConfig, parse_processing

__all__ = [
    "CalibrationConfig",
    "Config",
    "DestinationConfig",
    "DetectorConfig",
    "DicomConfig",
    "DicomPeerConfig",
    "DoseConfig",
    "ListenerConfig",
    "OutboxConfig",
    "PacsConfig",
    "ProcessingConfig",
    "RetryConfig",
    "WorklistConfig",
    "load_config",
    "parse_config",
]

COMPRESSIONS = ("", "jpeg-ls", "jpeg2000", "rle")
"""``[dicom] compression``: none, or one of the lossless transfer syntaxes."""


@dataclass(frozen=True)
class DetectorConfig(Section):
    """``[detector]``: which panel and how it reads out (times in seconds, positive)."""

    url: Annotated[str, NonEmpty()] = "sim://"
    exposure_s: Seconds = 0.1
    frame_timeout_s: Seconds = 10.0


@dataclass(frozen=True)
class CalibrationConfig(Section):
    """``[calibration]``: how maps are measured, where they are kept, how long they hold.

    ``directory`` is the calibration store (empty: ``$PANELGATE_HOME/calibration`` or
    ``~/.local/share/panelgate/calibration``). The validity rules
    (:class:`~panelgate.calibration.ValidityRules`; defaults and their sources in the
    README): the dark (offset) map is refreshed automatically before an exposure when
    older than ``dark_max_age_s`` or when the panel moved more than
    ``dark_max_temp_delta_c``, averaging ``refresh_dark_frames`` darks; the gain and defect
    maps expire after ``gain_max_age_days`` or when the panel is more than
    ``gain_max_temp_delta_c`` from their temperature, and an exposure is then refused.

    Floods fired through a generator (``panelgate calibrate --generator``;
    :mod:`~panelgate.acquisition.flood_technique`, :mod:`~panelgate.acquisition.flood_checks`):
    ``flood_kv`` at ``flood_sid_m``, the mAs of each level from the tube-output model
    ``tube_output_ugy_per_mas`` · (kV / ``tube_output_kv``) ^ ``tube_output_kv_exponent`` at
    1 m; each flood's mean within ``flood_level_tolerance`` of the expected signal, its block
    medians within ``flood_uniformity_tolerance`` of their median, at most
    ``flood_saturated_max_fraction`` of its pixels at full scale; ``flood_retries`` rejected
    floods per level before an unattended run gives up.
    """

    dark_frames: Count = 16
    flood_frames: Count = 16
    flood_air_kerma_ugy: PositiveFloat = 8.0
    pedestal_counts: NonNegativeFloat = 100.0
    directory: str = ""
    dark_max_age_s: NonNegativeFloat = 600.0  # 0: a fresh dark before every exposure
    dark_max_temp_delta_c: PositiveFloat = 2.0
    refresh_dark_frames: Annotated[int, InRange(2, 1024)] = 8
    gain_max_age_days: PositiveFloat = 30.0
    gain_max_temp_delta_c: PositiveFloat = 5.0
    flood_kv: PositiveFloat = 70.0  # RQA5 beam quality, IEC 62220-1-1
    flood_sid_m: PositiveFloat = 1.8
    tube_output_ugy_per_mas: PositiveFloat = 50.0  # at tube_output_kv and 1 m
    tube_output_kv: PositiveFloat = 80.0
    tube_output_kv_exponent: PositiveFloat = 2.0
    flood_level_tolerance: PositiveFloat = 0.3  # fractions below 1
    flood_uniformity_tolerance: PositiveFloat = 0.2
    flood_saturated_max_fraction: PositiveFloat = 0.001
    flood_retries: Annotated[int, InRange(0, 20)] = 2

    def _joint_problems(self) -> Problems:
        return [
            (key, f"must be below 1 (a fraction), got {getattr(self, key)!r}")
            for key in (
                "flood_level_tolerance",
                "flood_uniformity_tolerance",
                "flood_saturated_max_fraction",
            )
            if getattr(self, key) >= 1
        ]


@dataclass(frozen=True)
class DicomConfig(Section):
    """``[dicom]``: identity and rendering of the instances panelgate creates.

    ``uid_root`` follows PS3.5 9.1 and is kept ending in ``.`` (``1.2.3`` is read as
    ``1.2.3.``); ``calling_ae`` is an AE title (PS3.5 6.2); ``station_name`` is a DICOM
    SH (16 characters), ``institution_name`` a LO (64). ``send_for_processing`` queues the
    DX For Processing instance (PS3.3 A.26, the corrected linear image) beside the For
    Presentation one when the workflow queues into an outbox (``expose``, a station with
    ``auto_accept``; not an image held for review); most sites want only For Presentation,
    so it is off by default.
    """

    uid_root: UidRoot = "1.2.826.0.1.3680043.8.498."
    calling_ae: AETitle = "PANELGATE"
    institution_name: Annotated[str, DicomText(64)] = ""
    station_name: Annotated[str, DicomText(16)] = "PANELGATE"
    target_exposure_index: PositiveFloat = 400.0
    monochrome1: bool = False
    compression: Annotated[str, OneOf(COMPRESSIONS)] = ""  # lossless only
    send_for_processing: bool = False  # also queue the DX For Processing (linear) instance

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "uid_root", normalise_uid_root(self.uid_root))


@dataclass(frozen=True)
class PacsConfig(DicomPeerConfig):
    """``[pacs]``: the destination; when absent, the embedded PACS is used."""


@dataclass(frozen=True)
class WorklistConfig(DicomPeerConfig):
    """``[worklist]``: the Modality Worklist SCP that ``expose --worklist`` asks."""

    dimse_s: Seconds = 30.0


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    dicom: DicomConfig = field(default_factory=DicomConfig)
    pacs: PacsConfig | None = None
    worklist: WorklistConfig | None = None
    mpps: MppsConfig | None = None
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    listener: ListenerConfig | None = None
    destinations: dict[str, DestinationConfig] = field(default_factory=dict)
    processing: ProcessingConfig = field(default_factory=ProcessingConfig)
    dose: DoseConfig = field(default_factory=DoseConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)


def load_config(path: Path) -> Config:
    """Read and validate a TOML configuration file.

    Raises
    ------
    ConfigError
        The file cannot be read, is not TOML, or has invalid content; every problem is named.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"configuration {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration {path} is not valid TOML: {exc}") from None
    return parse_config(data, source=str(path))


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    """Build a :class:`Config` from parsed TOML, reporting every problem at once.

    Each problem names its section and key; unknown sections and keys are refused with
    the known ones listed. The values themselves are checked by each section
    (:class:`~.config_section.Section`): ports, timeouts, sizes, AE titles, the UID root,
    TLS files, the audit folder and the retry policy.

    Raises
    ------
    ConfigError
        One or more problems, joined with ``"; "`` after ``source``.
    """
    problems: list[str] = []
    sections: dict[str, Any] = {}
    hints = typing.get_type_hints(Config)
    for name, value in data.items():
        if name not in hints:
            problems.append(f"unknown section [{name}] (known: {', '.join(hints)})")
            continue
        if not isinstance(value, dict):
            problems.append(f"[{name}] must be a table, got {type(value).__name__}")
            continue
        if name == "destinations":  # a table of tables, one per destination name
            sections[name] = {
                key: _parse_section(DestinationConfig, f"destinations.{key}", table, problems)
                for key, table in value.items()
                if _is_table(f"destinations.{key}", table, problems)
            }
            continue
        if name == "processing":  # presets as sub-tables: processing_config.py
            sections[name] = parse_processing(value, problems)
            continue
        section_type = _section_type(hints[name])
        sections[name] = _parse_section(section_type, name, value, problems)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return Config(**sections)


def _is_table(where: str, value: Any, problems: list[str]) -> bool:
    if not isinstance(value, dict):
        problems.append(f"[{where}] must be a table, got {type(value).__name__}")
        return False
    return True


def _section_type(hint: Any) -> type:
    if isinstance(hint, types.UnionType):
        return typing.cast(type, next(a for a in typing.get_args(hint) if a is not type(None)))
    return typing.cast(type, hint)


def _typed(expected: Any, raw: Any, where: str, problems: list[str]) -> tuple[bool, Any]:
    """Check a TOML value's type against the field's (an int is taken for a float)."""
    if expected == tuple[str, ...]:  # a TOML array of strings
        if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
            return True, tuple(raw)
        problems.append(f"{where} must be an array of strings, got {raw!r}")
        return False, None
    value = raw
    if expected is float and isinstance(raw, int) and not isinstance(raw, bool):
        value = float(raw)
    if type(value) is not expected:
        shown = "" if _is_secret(where) else f" {value!r}"  # a secret is never echoed
        problems.append(f"{where} must be {expected.__name__}, got {type(value).__name__}{shown}")
        return False, None
    return True, value


def _is_secret(where: str) -> bool:
    """Whether the key named last in ``where`` holds a secret (a password or a token)."""
    key = where.rsplit(" ", 1)[-1].lower()
    return any(word in key for word in ("password", "token", "secret"))


def _parse_section(cls: type, section: str, table: dict[str, Any], problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, raw in table.items():
        where = f"[{section}] {key}"
        if key not in known:
            problems.append(f"unknown key {where} (known: {', '.join(sorted(known))})")
            continue
        ok, value = _typed(hints[key], raw, where, problems)
        if ok:
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except InvalidSection as exc:
        problems.extend(f"[{section}] {key} {problem}" for key, problem in exc.problems)
        return None

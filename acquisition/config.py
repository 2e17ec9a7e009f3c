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
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .gateway_config import DestinationConfig, ListenerConfig, OutboxConfig, RetryConfig

__all__ = [
    "CalibrationConfig",
    "Config",
    "DestinationConfig",
    "DetectorConfig",
    "DicomConfig",
    "ListenerConfig",
    "OutboxConfig",
    "PacsConfig",
    "RetryConfig",
    "WorklistConfig",
    "load_config",
    "parse_config",
]


@dataclass(frozen=True)
class DetectorConfig:
    """``[detector]``: which panel and how it reads out."""

    url: str = "sim://"
    exposure_s: float = 0.1
    frame_timeout_s: float = 10.0


@dataclass(frozen=True)
class CalibrationConfig:
    """``[calibration]``: how dark and flood maps are measured."""

    dark_frames: int = 16
    flood_frames: int = 16
    flood_air_kerma_ugy: float = 8.0
    pedestal_counts: float = 100.0


@dataclass(frozen=True)
class DicomConfig:
    """``[dicom]``: identity and rendering of the instances panelgate creates."""

    uid_root: str = "1.2.826.0.1.3680043.8.498."
    calling_ae: str = "PANELGATE"
    institution_name: str = ""
    station_name: str = "PANELGATE"
    target_exposure_index: float = 400.0
    monochrome1: bool = False
    compression: str = ""  # "", "jpeg-ls", "jpeg2000" or "rle" (lossless)


@dataclass(frozen=True)
class PacsConfig:
    """``[pacs]``: the destination; when absent, the embedded PACS is used."""

    host: str = "127.0.0.1"
    port: int = 104
    called_ae: str = "ANY-SCP"
    connect_s: float = 5.0
    dimse_s: float = 60.0


@dataclass(frozen=True)
class WorklistConfig:
    """``[worklist]``: the Modality Worklist SCP that ``expose --worklist`` asks."""

    host: str = "127.0.0.1"
    port: int = 104
    called_ae: str = "ANY-SCP"
    connect_s: float = 5.0
    dimse_s: float = 30.0


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    dicom: DicomConfig = field(default_factory=DicomConfig)
    pacs: PacsConfig | None = None
    worklist: WorklistConfig | None = None
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    listener: ListenerConfig | None = None
    destinations: dict[str, DestinationConfig] = field(default_factory=dict)


_COMPRESSIONS = ("", "jpeg-ls", "jpeg2000", "rle")

_POSITIVE = {
    "exposure_s",
    "frame_timeout_s",
    "dark_frames",
    "flood_frames",
    "flood_air_kerma_ugy",
    "target_exposure_index",
    "port",
    "connect_s",
    "dimse_s",
    "acse_s",
    "network_s",
    "initial_s",
    "max_s",
    "multiplier",
    "poll_s",
    "commit_timeout_s",
}


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
    """Build a :class:`Config` from parsed TOML, reporting every problem at once."""
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
        section_type = _section_type(hints[name])
        sections[name] = _parse_section(section_type, name, value, problems)
    dicom = sections.get("dicom")
    if dicom is not None and dicom.compression not in _COMPRESSIONS:
        problems.append(
            f"[dicom] compression must be one of {', '.join(repr(c) for c in _COMPRESSIONS)}, "
            f"got {dicom.compression!r}"
        )
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


def _parse_section(cls: type, section: str, table: dict[str, Any], problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, raw in table.items():
        value = float(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
        if hints.get(key) is not float:
            value = raw
        where = f"[{section}] {key}"
        if key not in known:
            problems.append(f"unknown key {where} (known: {', '.join(sorted(known))})")
            continue
        expected = hints[key]
        if expected == tuple[str, ...]:  # a TOML array of strings
            if not (isinstance(raw, list) and all(isinstance(v, str) for v in raw)):
                problems.append(f"{where} must be an array of strings, got {raw!r}")
                continue
            kwargs[key] = tuple(raw)
            continue
        if type(value) is not expected:
            problems.append(
                f"{where} must be {expected.__name__}, got {type(value).__name__} {value!r}"
            )
            continue
        if key in _POSITIVE and not (value > 0 and math.isfinite(value)):
            problems.append(f"{where} must be positive, got {value!r}")
            continue
        kwargs[key] = value
    return cls(**kwargs)

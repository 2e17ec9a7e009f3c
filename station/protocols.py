"""The station's protocol table: the anatomical programmes a technician chooses from.

A protocol names a body part and view (coded from PS3.16 CID 4031 "Common Anatomic
Regions" and CID 4010 "DX View", the tables of :mod:`panelgate.gateway.dicom.context`), the
technique set on the generator (kV, mAs, mA), whether the grid is in, the target exposure
index EI_T of the image (IEC 62494-1) and the name of the presentation-processing preset.

The table is ``[[protocols]]`` in the station's TOML file::

    [[protocols]]
    name = "CHEST PA"          # what the console shows; unique, case-insensitive
    body_part = "CHEST"        # Body Part Examined (0018,0015), a key of ANATOMY_CODES
    view = "PA"                # View Position (0018,5101), a key of VIEW_CODES
    kv = 125.0
    mas = 2.0
    # ma = 400.0               # tube current; the generator's setting when absent
    grid = true
    target_ei = 250.0          # EI_T
    preset = "chest"           # presentation-processing preset (processing layer)

Without ``[[protocols]]`` the station offers :data:`DEFAULT_PROTOCOLS`: a general-purpose
set (chest PA and lateral, abdomen AP, pelvis AP, lumbar spine AP and lateral, skull PA,
shoulder AP, hand PA, knee AP and lateral, foot AP) with techniques typical of an adult
of average build; each site sets its own. :func:`parse_protocols` validates the table once
and reports every problem of every entry together, naming the entry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from panelgate.gateway.dicom.context import ANATOMY_CODES, VIEW_CODES

__all__ = ["DEFAULT_PROTOCOLS", "ExamProtocol", "ProtocolTable", "parse_protocols"]

_VIEW_WORDS = {"LL": "LAT"}
"""How a View Position reads in a default protocol's name (lateral: the left lateral)."""


@dataclass(frozen=True)
class ExamProtocol:
    """One protocol of the table (see the module docstring for the fields).

    Parameters
    ----------
    name : str
        What the console shows, unique in the table (``CHEST PA``).
    body_part, view : str
        Body Part Examined and View Position: keys of ``ANATOMY_CODES`` and ``VIEW_CODES``.
    kv, mas : float
        Tube voltage (kV) and current-time product (mAs) set on the generator.
    grid : bool
        True when the anti-scatter grid is in the beam.
    target_ei : float
        Target exposure index EI_T of IEC 62494-1 (the deviation index refers to it).
    preset : str
        Name of the presentation-processing preset.
    ma : float or None
        Tube current (mA); the generator's current setting when None.
    """

    name: str
    body_part: str
    view: str
    kv: float
    mas: float
    grid: bool
    target_ei: float
    preset: str
    ma: float | None = None

    @property
    def workflow_protocol(self) -> str:
        """The ``BODYPART VIEW`` text the exposure workflow takes."""
        return f"{self.body_part} {self.view}".strip()

    def public(self) -> dict[str, Any]:
        """Describe the protocol for the API, with the codes of body part and view."""
        body_code, body_meaning = ANATOMY_CODES[self.body_part]
        view = VIEW_CODES.get(self.view)
        return {
            **asdict(self),
            "body_part_code": {"value": body_code, "scheme": "SCT", "meaning": body_meaning},
            "view_code": None
            if view is None
            else {"value": view[0], "scheme": "SCT", "meaning": view[1]},
        }


def _default(part_view: str, technique: tuple[float, float], grid: bool, ei_t: float,
             preset: str) -> ExamProtocol:  # fmt: skip
    body_part, view = part_view.split()
    name = f"{body_part} {_VIEW_WORDS.get(view, view)}"
    return ExamProtocol(name, body_part, view, *technique, grid, ei_t, preset)


DEFAULT_PROTOCOLS: tuple[ExamProtocol, ...] = (
    _default("CHEST PA", (125.0, 2.0), True, 250.0, "chest"),
    _default("CHEST LL", (125.0, 5.0), True, 250.0, "chest"),
    _default("ABDOMEN AP", (80.0, 20.0), True, 400.0, "abdomen"),
    _default("PELVIS AP", (80.0, 20.0), True, 400.0, "pelvis"),
    _default("LSPINE AP", (85.0, 25.0), True, 400.0, "spine"),
    _default("LSPINE LL", (90.0, 40.0), True, 400.0, "spine"),
    _default("SKULL PA", (75.0, 20.0), True, 400.0, "skull"),
    _default("SHOULDER AP", (70.0, 10.0), True, 400.0, "extremity"),
    _default("HAND PA", (55.0, 2.0), False, 500.0, "extremity"),
    _default("KNEE AP", (65.0, 5.0), False, 400.0, "extremity"),
    _default("KNEE LL", (65.0, 5.0), False, 400.0, "extremity"),
    _default("FOOT AP", (55.0, 3.0), False, 500.0, "extremity"),
)
"""The table without ``[[protocols]]``: typical adult techniques; a site adjusts them."""


class ProtocolTable:
    """The protocols of a station, looked up by name (case-insensitive)."""

    def __init__(self, protocols: Sequence[ExamProtocol]) -> None:
        self.protocols = tuple(protocols)
        self._by_name = {p.name.upper(): p for p in self.protocols}

    def get(self, name: str) -> ExamProtocol | None:
        """Return the protocol named ``name`` (any case), or None."""
        return self._by_name.get(" ".join(name.upper().split()))

    def names(self) -> list[str]:
        """Every protocol's name, in the table's order."""
        return [p.name for p in self.protocols]

    def public(self) -> list[dict[str, Any]]:
        """Describe the table as ``GET /api/protocols`` lists it."""
        return [p.public() for p in self.protocols]


_REQUIRED = ("name", "body_part", "kv", "mas", "target_ei", "preset")
_TYPES: dict[str, type] = {
    "name": str, "body_part": str, "view": str, "kv": float, "mas": float, "ma": float,
    "grid": bool, "target_ei": float, "preset": str,
}  # fmt: skip
_KV_RANGE = (20.0, 150.0)
"""Tube voltages of diagnostic radiography (IEC 60601-2-54 generators), kV."""


def _entry_problems(raw: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    problems: list[str] = []
    values: dict[str, Any] = {"view": "", "grid": False}
    for key, given in raw.items():
        expected = _TYPES.get(key)
        if expected is None:
            problems.append(f"unknown key {key} (known: {', '.join(sorted(_TYPES))})")
            continue
        value = float(given) if expected is float and type(given) is int else given
        if type(value) is not expected:
            problems.append(f"{key} must be {expected.__name__}, got {value!r}")
            continue
        values[key] = value
    problems += [f"{key} is required" for key in _REQUIRED if key not in raw]
    for key in ("mas", "target_ei", "ma"):
        value = values.get(key)
        if isinstance(value, float) and not (math.isfinite(value) and value > 0):
            problems.append(f"{key} must be positive and finite, got {value!r}")
    kv = values.get("kv")
    if isinstance(kv, float) and not (math.isfinite(kv) and _KV_RANGE[0] <= kv <= _KV_RANGE[1]):
        problems.append(f"kv must be within {_KV_RANGE[0]:g}-{_KV_RANGE[1]:g}, got {kv!r}")
    for key, table in (("body_part", ANATOMY_CODES), ("view", VIEW_CODES)):
        value = values.get(key)
        if isinstance(value, str) and value and value not in table:
            problems.append(f"{key} {value!r} is not one of {', '.join(sorted(table))}")
    for key in ("name", "body_part", "preset"):
        if values.get(key) == "":
            problems.append(f"{key} must not be empty")
    return problems, values


def parse_protocols(raw: Any) -> tuple[ProtocolTable | None, list[str]]:
    """Validate ``[[protocols]]`` (None: the default table); return the table and problems.

    Every problem of every entry is returned, each naming its entry
    (``[[protocols]] #2 'KNEE AP': kv must be ...``); the table is None when there are any.
    """
    if raw is None:
        return ProtocolTable(DEFAULT_PROTOCOLS), []
    if not isinstance(raw, list) or not raw:
        return None, ["[[protocols]] must be a non-empty array of tables"]
    problems: list[str] = []
    protocols: list[ExamProtocol] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(raw, start=1):
        if not isinstance(entry, dict):
            problems.append(f"[[protocols]] #{number} must be a table")
            continue
        label = f"[[protocols]] #{number}" + (
            f" {entry['name']!r}" if isinstance(entry.get("name"), str) else ""
        )
        found, values = _entry_problems(entry)
        problems += [f"{label}: {p}" for p in found]
        name = values.get("name")
        if isinstance(name, str) and name:
            key = " ".join(name.upper().split())
            if key in seen:
                problems.append(f"{label}: name repeats that of #{seen[key]} (case-insensitive)")
            seen.setdefault(key, number)
        if not found:
            protocols.append(ExamProtocol(**values))
    if problems:
        return None, problems
    return ProtocolTable(protocols), []

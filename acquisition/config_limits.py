"""Limits declared on configuration fields, and the types that carry them.

A configuration field says what values it takes in its annotation, next to its name and
default (as ophyd-async's ``TriggerInfo`` declares ``Field(gt=0)``), instead of a list of
bare key names elsewhere deciding which numbers must be positive::

    @dataclass(frozen=True)
    class PacsConfig(Section):
        port: Port = 104              # 1-65535
        connect_s: Seconds = 5.0      # positive and finite

:func:`field_problems` reads the limits back from the annotations and names every field
that breaks one. Each limit returns what is wrong with a value (``None`` when it is fine).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from panelgate.gateway.dicom.identifiers import ae_title_problem, uid_root_problem

__all__ = [
    "AETitle",
    "AnyPort",
    "AtLeast",
    "Count",
    "DicomText",
    "Finite",
    "FiniteFloat",
    "Host",
    "InRange",
    "IsAETitle",
    "IsUidRoot",
    "NonEmpty",
    "NonNegative",
    "NonNegativeFloat",
    "NonNegativeInt",
    "OneOf",
    "Port",
    "Positive",
    "PositiveFloat",
    "Seconds",
    "UidRoot",
    "field_problems",
]


def _number_problem(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    return None


@dataclass(frozen=True)
class Finite:
    """A finite number: no NaN, no infinity."""

    def problem(self, value: Any) -> str | None:
        """Say what is wrong with ``value``, or return None."""
        return _number_problem(value)


@dataclass(frozen=True)
class Positive:
    """A finite number greater than zero (sizes, counts, timeouts)."""

    def problem(self, value: Any) -> str | None:
        """Say what is wrong with ``value``, or return None."""
        return _number_problem(value) or (None if value > 0 else f"must be positive, got {value!r}")


@dataclass(frozen=True)
class NonNegative:
    """A finite number of zero or more (zero has a documented meaning for the field)."""

    def problem(self, value: Any) -> str | None:
        """Say what is wrong with ``value``, or return None."""
        return _number_problem(value) or (
            None if value >= 0 else f"must be zero or more, got {value!r}"
        )


@dataclass(frozen=True)
class AtLeast:
    """A finite number of at least ``low``."""

    low: float

    def problem(self, value: Any) -> str | None:
        """Say what is wrong with ``value``, or return None."""
        return _number_problem(value) or (
            None if value >= self.low else f"must be at least {self.low:g}, got {value!r}"
        )


@dataclass(frozen=True)
class InRange:
    """A whole number from ``low`` to ``high`` inclusive; ``note`` explains a special value."""

    low: int
    high: int
    note: str = ""

    def problem(self, value: Any) -> str | None:
        """Say what is wrong with ``value``, or return None."""
        if self.low <= value <= self.high:
            return None
        note = f" ({self.note})" if self.note else ""
        return f"must be {self.low}-{self.high}{note}, got {value!r}"


@dataclass(frozen=True)
class NonEmpty:
    """A text that is not empty or only spaces."""

    def problem(self, value: Any) -> str | None:
        """Say what is wrong with ``value``, or return None."""
        return None if str(value).strip() else f"must not be empty, got {value!r}"


@dataclass(frozen=True)
class DicomText:
    """Text for a DICOM string of at most ``max_chars`` (PS3.5 6.2: SH 16, LO 64)."""

    max_chars: int

    def problem(self, value: Any) -> str | None:
        """Say what is wrong with ``value``, or return None."""
        text = str(value)
        if len(text) > self.max_chars:
            return f"must be at most {self.max_chars} characters, got {len(text)}"
        if "\\" in text or any(c < " " for c in text):
            return f"must not contain a backslash or control characters, got {text!r}"
        return None


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of texts."""

    choices: tuple[str, ...]

    def problem(self, value: Any) -> str | None:
        """Say what is wrong with ``value``, or return None."""
        if value in self.choices:
            return None
        return f"must be one of {', '.join(repr(c) for c in self.choices)}, got {value!r}"


@dataclass(frozen=True)
class IsAETitle:
    """A DICOM Application Entity title (PS3.5 6.2; see ``gateway.dicom.identifiers``)."""

    def problem(self, value: Any) -> str | None:
        """Say what is wrong with ``value``, or return None."""
        return ae_title_problem(str(value))


@dataclass(frozen=True)
class IsUidRoot:
    """A DICOM UID root with room for a generated suffix (PS3.5 9.1; ``identifiers``)."""

    def problem(self, value: Any) -> str | None:
        """Say what is wrong with ``value``, or return None."""
        return uid_root_problem(str(value))


Seconds = Annotated[float, Positive()]
"""A duration in seconds: positive and finite (timeouts, intervals)."""
PositiveFloat = Annotated[float, Positive()]
"""A positive, finite quantity (air kerma, an exposure index)."""
NonNegativeFloat = Annotated[float, NonNegative()]
"""A finite quantity of zero or more; the field documents what zero means."""
FiniteFloat = Annotated[float, Finite()]
"""Any finite number."""
Count = Annotated[int, Positive()]
"""A number of things, one or more (frames, bytes of a PDU)."""
NonNegativeInt = Annotated[int, NonNegative()]
"""A whole number of zero or more; the field documents what zero means."""
Port = Annotated[int, InRange(1, 65535)]
"""A TCP port to connect to."""
AnyPort = Annotated[int, InRange(0, 65535, "0: any free port")]
"""A TCP port to listen on; 0 lets the system choose a free one."""
Host = Annotated[str, NonEmpty()]
"""A host name or address."""
AETitle = Annotated[str, IsAETitle()]
"""A DICOM AE title (PS3.5 6.2)."""
UidRoot = Annotated[str, IsUidRoot()]
"""A DICOM UID root (PS3.5 9.1)."""


class _Limit(typing.Protocol):
    def problem(self, value: Any) -> str | None: ...


_LIMITS: dict[type, dict[str, tuple[tuple[_Limit, ...], bool]]] = {}


def _field_limits(cls: type) -> dict[str, tuple[tuple[_Limit, ...], bool]]:
    """Each field's limits, and whether they apply to the items of a tuple (cached)."""
    if cls in _LIMITS:
        return _LIMITS[cls]
    hints = typing.get_type_hints(cls, include_extras=True)
    limits: dict[str, tuple[tuple[_Limit, ...], bool]] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        per_item = typing.get_origin(hint) is tuple
        if per_item:
            hint = typing.get_args(hint)[0]
        if typing.get_origin(hint) is Annotated:
            found = tuple(m for m in hint.__metadata__ if hasattr(m, "problem"))
            limits[f.name] = (found, per_item)
    _LIMITS[cls] = limits
    return limits


def field_problems(obj: Any) -> list[tuple[str, str]]:
    """Check every field of a dataclass instance against the limits its annotation declares.

    Returns
    -------
    list of (str, str)
        ``(field name, what is wrong)`` for each field that breaks a limit, in field order;
        a field is named once, for the first limit it breaks.
    """
    problems: list[tuple[str, str]] = []
    for name, (limits, per_item) in _field_limits(type(obj)).items():
        value = getattr(obj, name)
        values: Sequence[Any] = value if per_item else (value,)
        for item in values:
            problem = next((p for p in (lim.problem(item) for lim in limits) if p), None)
            if problem is not None:
                problems.append((name, f"{item!r} {problem}" if per_item else problem))
                break
    return problems

"""The panelgate generator line protocol: pure encoding and decoding, no I/O.

Our own ASCII protocol, modelled on the serial command sets of common radiographic
generators: one command per line, one answer line per command, plus unsolicited
event lines. The host terminates lines with CR or LF (either is accepted, CRLF too);
the generator answers with CRLF. Numbers are decimal with an optional fraction.

==================  ======================================  ===================================
Host sends          Generator answers                       Meaning
==================  ======================================  ===================================
``IDN?``            ``IDN <maker>,<model>,<serial>,<fw>``   identify
``LIM?``            ``LIM KV 40 150 MA 10 800 MS 1 5000``   technique ranges (kV, mA, ms)
``KV <v>``          ``OK KV <v>``                           set tube voltage, kV
``MA <v>``          ``OK MA <v>``                           set tube current, mA
``MS <v>``          ``OK MS <v>``                           set exposure time, ms
``MAS <v>``         ``OK MAS <v>``                          set mAs: time = mAs / mA · 1000
``KV?`` ``MA?``     ``KV <v>`` ``MA <v>``                   read a set value back
``MS?`` ``MAS?``    ``MS <v>`` ``MAS <v>``
``ST?``             ``ST IDLE|PREP|READY|EXPOSING|FAULT``   generator state
``PREP``            ``OK PREP`` then event ``EV READY``     rotor up, filament boost
``EXP``             ``OK EXP`` then event ``EV DONE ...``   fire (needs READY)
``ABORT``           ``OK ABORT``                            stop anything, back to IDLE
``RESET``           ``OK RESET``                            clear a fault, back to IDLE
(any)               ``ER <nn> <text>``                      refused, error code ``nn``
==================  ======================================  ===================================

Events (unsolicited, start with ``EV``):

==============================================  ==============================================
``EV READY``                                    prep finished, exposure may start
``EV DONE KV=<v> MA=<v> MS=<v> MAS=<v>``        exposure done, with the values *delivered*
``EV ERR <nn> <text>``                          fault during prep or exposure (state FAULT)
==============================================  ==============================================

Error codes:

====  ===================================  ====  ======================================
Code  Meaning                              Code  Meaning
====  ===================================  ====  ======================================
01    value out of range                   10    interlock open
02    unknown command                      11    tube overheat
03    malformed command                    12    exposure aborted
04    not allowed in this state
====  ===================================  ====  ======================================
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import (
    ExposureAborted,
    GeneratorFault,
    GeneratorProtocolError,
    InterlockOpen,
    TechniqueOutOfRange,
    TubeOverheat,
)

__all__ = [
    "ERR_ABORTED",
    "ERR_INTERLOCK",
    "ERR_MALFORMED",
    "ERR_OVERHEAT",
    "ERR_RANGE",
    "ERR_STATE",
    "ERR_UNKNOWN",
    "MAX_LINE_BYTES",
    "Command",
    "Delivered",
    "LineSplitter",
    "Message",
    "TechniqueLimits",
    "decode_line",
    "encode_line",
    "fault_for",
    "parse_command",
    "parse_delivered",
    "parse_limits",
]

ERR_RANGE, ERR_UNKNOWN, ERR_MALFORMED, ERR_STATE = 1, 2, 3, 4
ERR_INTERLOCK, ERR_OVERHEAT, ERR_ABORTED = 10, 11, 12

MAX_LINE_BYTES = 256
"""Longest line either side accepts; longer input is garbage."""

_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")
_NUMBER = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_SETTABLE = ("KV", "MA", "MS", "MAS")
_PLAIN = ("PREP", "EXP", "ABORT", "RESET")
_QUERIES = ("IDN?", "LIM?", "ST?", *(f"{name}?" for name in _SETTABLE))
_FAULTS: dict[int, type[GeneratorFault]] = {
    ERR_INTERLOCK: InterlockOpen,
    ERR_OVERHEAT: TubeOverheat,
    ERR_ABORTED: ExposureAborted,
}


def encode_line(text: str) -> bytes:
    """Encode one line of the protocol, CRLF-terminated.

    Raises
    ------
    ValueError
        The text is not printable ASCII, holds a line break, or is too long.
    """
    if not _PRINTABLE.match(text) or len(text) + 2 > MAX_LINE_BYTES:
        raise ValueError(f"not a valid protocol line: {text!r}")
    return text.encode("ascii") + b"\r\n"


class LineSplitter:
    """Split a byte stream into lines at CR or LF; empty lines (from CRLF) are dropped.

    Bytes after the last terminator are kept for the next :meth:`feed` (a partial line).
    """

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete lines they finish, without terminators.

        Raises
        ------
        GeneratorProtocolError
            More than :data:`MAX_LINE_BYTES` arrived without a terminator; the bytes so far
            are discarded.
        """
        self._pending += data
        parts = re.split(rb"[\r\n]", bytes(self._pending))
        self._pending = bytearray(parts.pop())
        if len(self._pending) > MAX_LINE_BYTES:
            self._pending.clear()
            raise GeneratorProtocolError(
                f"more than {MAX_LINE_BYTES} bytes without a line end: not our protocol"
            )
        return [part for part in parts if part]

    def reset(self) -> None:
        """Forget a partial line."""
        self._pending.clear()


@dataclass(frozen=True)
class Message:
    """One line from the generator, split into kind, name and arguments.

    ``kind`` is ``OK`` (acknowledgement), ``ER`` (refusal), ``EV`` (event) or ``VAL``
    (the answer to a query, named after it: ``KV``, ``ST``, ``LIM``...).
    """

    kind: str
    name: str
    args: tuple[str, ...] = ()


def decode_line(line: bytes) -> Message:
    """Decode one generator line (without its terminator).

    Raises
    ------
    GeneratorProtocolError
        Not printable ASCII, or not a known message shape.
    """
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise GeneratorProtocolError(f"non-ASCII bytes from the generator: {line[:40]!r}") from None
    words = text.split()
    if not _PRINTABLE.match(text) or not words or len(line) > MAX_LINE_BYTES:
        raise GeneratorProtocolError(f"garbage from the generator: {line[:40]!r}")
    head, rest = words[0], tuple(words[1:])
    if head in ("OK", "EV") and rest:
        return Message(head, rest[0], rest[1:])
    if head == "ER" and rest and rest[0].isdigit():
        return Message("ER", rest[0], (" ".join(rest[1:]),))
    if head in ("IDN", "LIM", "ST", *_SETTABLE) and rest:
        return Message("VAL", head, rest)
    raise GeneratorProtocolError(f"unexpected line from the generator: {text[:40]!r}")


def fault_for(code: int, text: str) -> GeneratorFault:
    """Return the typed exception of a generator error code (``ER`` or ``EV ERR``)."""
    return _FAULTS.get(code, GeneratorFault)(code, text)


@dataclass(frozen=True)
class Command:
    """One host command as the generator parses it: ``name`` and an optional number."""

    name: str
    value: float | None = None


def parse_command(line: bytes) -> Command | tuple[int, str]:
    """Parse a host line on the generator side; an ``(error code, text)`` pair if invalid."""
    try:
        words = line.decode("ascii").strip().upper().split()
    except UnicodeDecodeError:
        return (ERR_MALFORMED, "non-ASCII command")
    if not words:
        return (ERR_MALFORMED, "empty command")
    name = words[0]
    if name in _QUERIES or name in _PLAIN:
        return Command(name) if len(words) == 1 else (ERR_MALFORMED, f"{name} takes no value")
    if name in _SETTABLE:
        if len(words) != 2 or not _NUMBER.match(words[1]):
            return (ERR_MALFORMED, f"{name} needs one number")
        return Command(name, float(words[1]))
    return (ERR_UNKNOWN, f"unknown command {name[:16]}")


@dataclass(frozen=True)
class TechniqueLimits:
    """The ranges a generator accepts: kV, mA and exposure time in ms (inclusive)."""

    kv: tuple[float, float] = (40.0, 150.0)
    ma: tuple[float, float] = (10.0, 800.0)
    ms: tuple[float, float] = (1.0, 5000.0)

    def check(self, kv: float, mas: float, ma: float) -> float:
        """Check a technique; return its exposure time in ms.

        Raises
        ------
        TechniqueOutOfRange
            kV or mA out of range, or the mAs needs a time outside the range at ``ma``.
        """
        for name, value, (low, high), unit in (
            ("tube voltage", kv, self.kv, "kV"),
            ("tube current", ma, self.ma, "mA"),
        ):
            if not (math.isfinite(value) and low <= value <= high):
                raise TechniqueOutOfRange(
                    f"{name} {value:g} {unit} is outside the generator's range "
                    f"{low:g}-{high:g} {unit}"
                )
        ms = mas / ma * 1000.0 if math.isfinite(mas) and mas > 0 else math.nan
        low, high = self.ms
        if not low <= ms <= high:
            raise TechniqueOutOfRange(
                f"{mas:g} mAs at {ma:g} mA needs {ms:g} ms; the generator's range is "
                f"{low:g}-{high:g} ms ({low * ma / 1000:g}-{high * ma / 1000:g} mAs at {ma:g} mA)"
            )
        return ms

    def encode(self) -> str:
        """Return the ``LIM`` answer line (without terminator)."""
        return (
            f"LIM KV {self.kv[0]:g} {self.kv[1]:g} MA {self.ma[0]:g} {self.ma[1]:g} "
            f"MS {self.ms[0]:g} {self.ms[1]:g}"
        )


def parse_limits(msg: Message) -> TechniqueLimits:
    """Decode a ``LIM`` answer.

    Raises
    ------
    GeneratorProtocolError
        The answer does not have the documented shape.
    """
    a = msg.args
    if (
        msg.name != "LIM"
        or len(a) != 9
        or (a[0], a[3], a[6]) != ("KV", "MA", "MS")
        or not all(_NUMBER.match(a[i]) for i in (1, 2, 4, 5, 7, 8))
    ):
        raise GeneratorProtocolError(f"malformed LIM answer: {' '.join(a)[:60]!r}")
    v = [float(a[i]) for i in (1, 2, 4, 5, 7, 8)]
    return TechniqueLimits(kv=(v[0], v[1]), ma=(v[2], v[3]), ms=(v[4], v[5]))


@dataclass(frozen=True)
class Delivered:
    """What the generator actually delivered: kV, mA, time in ms and mAs."""

    kv: float
    ma: float
    ms: float
    mas: float

    def encode(self) -> str:
        """Return the ``EV DONE`` event line (without terminator)."""
        return f"EV DONE KV={self.kv:.1f} MA={self.ma:.1f} MS={self.ms:.2f} MAS={self.mas:.3f}"


def parse_delivered(msg: Message) -> Delivered:
    """Decode the arguments of an ``EV DONE`` event.

    Raises
    ------
    GeneratorProtocolError
        A field is missing or not a number.
    """
    fields: dict[str, float] = {}
    for arg in msg.args:
        key, sep, value = arg.partition("=")
        if not sep or not _NUMBER.match(value):
            raise GeneratorProtocolError(f"malformed DONE field {arg[:30]!r}")
        fields[key] = float(value)
    try:
        return Delivered(fields["KV"], fields["MA"], fields["MS"], fields["MAS"])
    except KeyError as exc:
        raise GeneratorProtocolError(f"DONE event without {exc.args[0]}") from None

"""Argument types shared by the commands: each turns text into a checked value or says why not.

A type raises :class:`argparse.ArgumentTypeError`; the parser turns it into one line that
names the option (``argument --timeout-s: expected a positive number of seconds, got
'-1'``) and exit status 2. Numbers are finite: ``nan`` and ``inf`` parse as floats in
Python, and are refused here.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from panelgate.gateway.dicom.identifiers import ae_title_problem

__all__ = [
    "ae_title",
    "finite_float",
    "frame_count",
    "host_port",
    "non_negative_float",
    "non_negative_int",
    "non_negative_seconds",
    "port",
    "positive_float",
    "positive_int",
    "positive_seconds",
]


def host_port(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT``."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port 1-65535, got {text!r}")
    return host, int(port)


def port(text: str) -> int:
    """Parse a TCP port number (0 = any free port)."""
    if not text.isdigit() or not 0 <= int(text) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return int(text)


def frame_count(text: str) -> int:
    """Parse a number of frames to average, 2-1024."""
    if not text.isdigit() or not 2 <= int(text) <= 1024:
        raise argparse.ArgumentTypeError(f"expected a frame count 2-1024, got {text!r}")
    return int(text)


def ae_title(text: str) -> str:
    """Parse a DICOM AE title (PS3.5 6.2: 1-16 characters, no backslash)."""
    problem = ae_title_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"an AE title {problem}")
    return text


def _finite(text: str, expected: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r} (not finite)")
    return value


def _float_type(expected: str, accept: Callable[[float], bool]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = _finite(text, expected)
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def _int_type(expected: str, accept: Callable[[int], bool]) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


positive_seconds = _float_type("a positive number of seconds", lambda v: v > 0)
"""Parse a duration or timeout in seconds: finite and greater than zero."""
non_negative_seconds = _float_type("a number of seconds, 0 or more", lambda v: v >= 0)
"""Parse a delay in seconds that may be zero: finite, 0 or more."""
positive_float = _float_type("a positive number", lambda v: v > 0)
"""Parse a positive, finite quantity (kV, mAs, mA, µGy)."""
non_negative_float = _float_type("a number, 0 or more", lambda v: v >= 0)
"""Parse a finite quantity that may be zero (a dose of 0 is a dark frame)."""
finite_float = _float_type("a finite number", lambda v: True)
"""Parse any finite number (a temperature in °C)."""
positive_int = _int_type("a whole number, 1 or more", lambda v: v > 0)
"""Parse a count of one or more (frames)."""
non_negative_int = _int_type("a whole number, 0 or more", lambda v: v >= 0)
"""Parse a whole number of zero or more (a seed)."""

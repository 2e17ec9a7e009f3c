"""Argument types shared by the commands: each turns text into a checked value or says why not."""

from __future__ import annotations

import argparse

__all__ = ["ae_title", "frame_count", "host_port", "port"]


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
    """Parse a DICOM AE title: 1-16 ASCII characters, no backslash (PS3.5 6.2)."""
    if not 0 < len(text) <= 16 or not text.isascii() or "\\" in text or text != text.strip():
        raise argparse.ArgumentTypeError(
            f"an AE title is 1-16 ASCII characters without '\\', got {text!r}"
        )
    return text

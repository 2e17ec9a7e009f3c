"""Opening the station's generator and detector: a serial link, the simulated room, or none.

``[station] generator`` names the :class:`~panelgate.drivers.generator.Generator` the
exposure workflow drives:

- a serial port: a :class:`~panelgate.drivers.generator.GeneratorClient` on it;
- ``sim``: a :class:`~panelgate.simulators.generator.InProcessGenerator` whose beam
  reaches the simulated panels of an X-ray room (:mod:`panelgate.simulators.room`), the
  room the panel's URL names with ``room=``, else ``<state_dir>/room``; a simulated panel
  without ``room=`` is put in that room (its URL gains ``room=``), so that the beam reaches
  it as it reaches a real panel: physically, nowhere else (and a simulated panel without
  ``trigger=`` takes the station's trigger mode as its trigger source);
- ``none``: a :class:`~panelgate.drivers.generator.ManualGenerator` (no link; the
  technician fires at the console and the panel detects the beam, ``trigger = "aed"``).
"""

from __future__ import annotations

import urllib.parse
from contextlib import ExitStack
from pathlib import Path

from panelgate.acquisition.errors import UsageError
from panelgate.drivers.generator import Generator, GeneratorClient, ManualGenerator
from panelgate.simulators.generator import InProcessGenerator
from panelgate.simulators.room import Room as XrayRoom

from .config import StationConfig

__all__ = ["is_simulated_url", "open_generator", "panel_url", "room_of"]


def is_simulated_url(url: str) -> bool:
    """Return True for a simulated panel's URL (``sim://``, ``usb://sim``)."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme == "sim" or (parts.scheme == "usb" and parts.netloc == "sim")


def room_of(url: str) -> str | None:
    """Return the ``room=`` directory a panel URL names, or None."""
    return _query_value(url, "room")


def _query_value(url: str, key: str) -> str | None:
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get(key)
    return values[-1] if values else None


def _with(url: str, key: str, value: str) -> str:
    quoted = urllib.parse.quote(value, safe="/")
    return f"{url}{'&' if urllib.parse.urlsplit(url).query else '?'}{key}={quoted}"


def panel_url(url: str, station: StationConfig) -> str:
    """Return the detector URL the station opens: a simulated panel set up as the room's.

    A simulated panel whose URL names no ``trigger=`` gets ``[station] trigger`` (its
    trigger source is the station's trigger mode, as a real panel is set up to match);
    with ``generator = "sim"`` one that names no ``room=`` gets
    :attr:`StationConfig.room_path`. Any other URL is returned as it is.
    """
    if not is_simulated_url(url):
        return url
    if _query_value(url, "trigger") is None and station.trigger != "software":
        url = _with(url, "trigger", station.trigger)
    if station.generator == "sim" and room_of(url) is None:
        url = _with(url, "room", str(station.room_path))
    return url


def open_generator(station: StationConfig, url: str, stack: ExitStack) -> tuple[Generator, str]:
    """Open the generator of ``[station] generator``; return it and where it is.

    Parameters
    ----------
    station : StationConfig
        ``generator``, ``state_dir``.
    url : str
        The detector URL as opened (:func:`panel_url`): its ``room=`` is the simulated
        generator's room.
    stack : ExitStack
        Closes the generator with the room.

    Raises
    ------
    UsageError
        The simulated room cannot be made.
    GeneratorError
        The serial generator cannot be opened.
    """
    if station.generator == "none":
        return ManualGenerator(), "none (no generator link: fire at the generator's console)"
    if station.generator != "sim":
        return stack.enter_context(GeneratorClient(station.generator)), station.generator
    where = Path(room_of(url) or station.room_path)
    try:
        room = XrayRoom(where)
    except OSError as exc:
        raise UsageError(f"the simulated X-ray room {where}: {exc.strerror or exc}") from None
    return stack.enter_context(InProcessGenerator(room=room)), f"sim (room {where})"

"""Opening a detector from its URL: ``sim://``, ``usb://`` and ``gige://``."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from panelgate.drivers import Detector
from panelgate.drivers.gige import GigEDetector
from panelgate.drivers.u3v import U3VDetector
from panelgate.simulators import SimulatedDetector
from panelgate.simulators.usb import open_usb_sim

from .errors import UsageError

__all__ = ["SCHEMES", "open_detector"]


def _usb(url: str) -> Detector:
    """``usb://sim[?...]`` is the simulated panel; ``usb://VID:PID[/SERIAL]`` a real one."""
    if urllib.parse.urlsplit(url).netloc == "sim":
        return open_usb_sim(url)
    return U3VDetector.from_url(url)


SCHEMES: dict[str, Callable[[str], Detector]] = {
    "sim": SimulatedDetector.from_url,
    "usb": _usb,
    "gige": GigEDetector.from_url,
}


def open_detector(url: str) -> Detector:
    """Create (not yet connect) the detector a URL names.

    Raises
    ------
    UsageError
        The URL's scheme is not supported.
    InvalidSetting
        The URL's parameters are wrong for its scheme.
    """
    scheme = urllib.parse.urlsplit(url).scheme
    factory = SCHEMES.get(scheme)
    if factory is None:
        raise UsageError(
            f"unsupported detector URL {url!r}: scheme must be one of "
            + ", ".join(f"{s}://" for s in SCHEMES)
        )
    return factory(url)

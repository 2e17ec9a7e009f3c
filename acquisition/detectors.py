"""Opening a detector from its URL: ``sim://`` today; ``gige://`` and ``usb://`` to come."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from panelgate.drivers import Detector
from panelgate.simulators import SimulatedDetector

from .errors import UsageError

__all__ = ["SCHEMES", "open_detector"]

SCHEMES: dict[str, Callable[[str], Detector]] = {
    "sim": SimulatedDetector.from_url,
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

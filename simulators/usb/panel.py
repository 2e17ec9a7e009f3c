"""``usb://sim[?width=W&height=H&seed=S&serial=X]``: the real U3V driver on a simulated device."""

from __future__ import annotations

import urllib.parse

from panelgate.drivers.errors import InvalidSetting
from panelgate.drivers.u3v import U3VDetector
from panelgate.simulators.panel import PanelSpec

from .backend import PID, VID, SimulatedUsbBackend
from .device import U3VDeviceModel

__all__ = ["open_usb_sim"]


def open_usb_sim(url: str) -> U3VDetector:
    """Build a :class:`U3VDetector` whose pyusb backend is a simulated panel.

    The device model is reachable as ``detector.simulated_device`` (dose, faults).

    Raises
    ------
    InvalidSetting
        Not ``usb://sim`` or a bad parameter.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "usb" or parts.netloc != "sim" or parts.path not in ("", "/"):
        raise InvalidSetting(f"not a simulated USB panel URL (usb://sim?...): {url!r}")
    known = {"width": int, "height": int, "seed": int, "serial": str}
    values: dict[str, int | str] = {}
    for key, items in urllib.parse.parse_qs(parts.query).items():
        if key not in known:
            raise InvalidSetting(f"unknown usb://sim parameter {key!r}; known: {sorted(known)}")
        try:
            values[key] = known[key](items[-1])
        except ValueError:
            raise InvalidSetting(f"usb://sim parameter {key}={items[-1]!r} is not valid") from None
    spec_args = {k: v for k, v in values.items() if k in ("width", "height", "serial")}
    try:
        spec = PanelSpec(**spec_args)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidSetting(f"{exc} (from {url!r})") from None
    device = U3VDeviceModel(spec, seed=int(values.get("seed", 0)))
    detector = U3VDetector(VID, PID, backend=SimulatedUsbBackend(device))
    detector.simulated_device = device  # type: ignore[attr-defined]
    return detector

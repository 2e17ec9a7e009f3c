"""``usb://sim[?...]``: the real U3V driver on a simulated device, in an X-ray room.

URL keys: ``width``, ``height``, ``seed``, ``serial``; ``room`` (the room's directory,
:mod:`panelgate.simulators.room`), ``trigger`` (software, generator or aed), and what
stands in the beam, ``phantom`` (open, wedge, chest, hand or edge), ``field``
(``WxH[@x,y]`` mm), ``grid`` (on, off or lines per cm) and ``marker`` (L or R), as for
``sim://``; ``mtf_sigma`` (light spread σ in pixels, as for ``sim://``); ``control`` (a
file another process writes to unplug, replug or fault the device, :mod:`.control`).
"""

from __future__ import annotations

import urllib.parse

import numpy as np
import numpy.typing as npt

from panelgate.drivers.detector import DetectorInfo, TriggerSource
from panelgate.drivers.errors import InvalidSetting
from panelgate.drivers.u3v import U3VDetector
from panelgate.simulators.dose import placed_phantom, room_at, trigger_source
from panelgate.simulators.panel import PanelSpec

from .backend import PID, VID, SimulatedUsbBackend
from .control import ControlFile
from .device import U3VDeviceModel

__all__ = ["SimulatedUsbPanel", "open_usb_sim"]


class SimulatedUsbPanel(U3VDetector):
    """The U3V driver over a :class:`SimulatedUsbBackend`; the device stands in a room.

    Everything goes through the real driver and pyusb; what a simulator adds is declared
    here: :attr:`simulated_device` (faults, registers), :meth:`irradiate` (the
    simulator's calibration source, :class:`~panelgate.simulators.dose.Irradiable`) and
    :attr:`trigger_source` (:class:`~panelgate.drivers.ReportsTriggerSource`: the device's
    ``trigger=``; the simulated device's GenICam XML has no ``TriggerSource`` feature).

    Parameters
    ----------
    device : U3VDeviceModel
        The simulated device on the bus.
    control : ControlFile, optional
        The file through which another process unplugs, replugs or faults the device.
    """

    def __init__(self, device: U3VDeviceModel, control: ControlFile | None = None) -> None:
        super().__init__(VID, PID, backend=SimulatedUsbBackend(device, control))
        self.simulated_device = device

    @property
    def trigger_source(self) -> TriggerSource:
        """What starts the simulated device's integration (``trigger=`` of the URL)."""
        return self.simulated_device.trigger_source

    def irradiate(
        self, air_kerma_ugy: float, transmission: npt.NDArray[np.float32] | None = None
    ) -> None:
        """Deliver dose now from the simulator's calibration source (not the room's tube)."""
        self.simulated_device.irradiate(air_kerma_ugy, transmission)

    def _do_connect(self) -> DetectorInfo:
        self.simulated_device.intake.open()
        try:
            return super()._do_connect()
        except BaseException:
            self.simulated_device.intake.close()
            raise

    def _do_close(self) -> None:
        try:
            super()._do_close()
        finally:
            self.simulated_device.intake.close()


def open_usb_sim(url: str) -> SimulatedUsbPanel:
    """Build a :class:`SimulatedUsbPanel` from its URL (see the module docstring).

    Raises
    ------
    InvalidSetting
        Not ``usb://sim`` or a bad parameter.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "usb" or parts.netloc != "sim" or parts.path not in ("", "/"):
        raise InvalidSetting(f"not a simulated USB panel URL (usb://sim?...): {url!r}")
    known = {
        "width": int, "height": int, "seed": int, "serial": str,
        "room": str, "trigger": str, "phantom": str, "control": str,
        "field": str, "grid": str, "marker": str, "mtf_sigma": float,
    }  # fmt: skip
    values: dict[str, int | str | float] = {}
    for key, items in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items():
        if key not in known:
            raise InvalidSetting(f"unknown usb://sim parameter {key!r}; known: {sorted(known)}")
        try:
            values[key] = known[key](items[-1])
        except ValueError:
            raise InvalidSetting(f"usb://sim parameter {key}={items[-1]!r} is not valid") from None
    spec_args = {k: v for k, v in values.items() if k in ("width", "height", "serial")}
    if "mtf_sigma" in values:
        spec_args["mtf_sigma_px"] = values["mtf_sigma"]
    try:
        spec = PanelSpec(**spec_args)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidSetting(f"{exc} (from {url!r})") from None
    keys: dict[str, str] = {
        k: str(values[k]) for k in ("phantom", "field", "grid", "marker") if k in values
    }
    device = U3VDeviceModel(
        spec,
        seed=int(values.get("seed", 0)),
        trigger=trigger_source(str(values.get("trigger", "software")), url),
        room=room_at(str(values["room"]), url) if "room" in values else None,
        phantom=placed_phantom(keys, spec.height, spec.width, spec.pixel_pitch_mm, url),
    )
    control = ControlFile(str(values["control"])) if values.get("control") else None
    return SimulatedUsbPanel(device, control)

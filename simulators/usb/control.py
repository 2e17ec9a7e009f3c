"""A control file through which another process unplugs, replugs or faults a ``usb://sim`` panel.

A simulated USB panel lives inside the process that opened it (the station, ``expose``);
a test in another process cannot reach its :class:`~.device.U3VDeviceModel`. With
``control=PATH`` in the panel's URL the simulated bus reads one word from ``PATH`` each
time the host touches the device (every transfer and every enumeration), when the file
has changed since it was last read:

``unplugged``
    The cable is pulled: every transfer fails with ENODEV, enumeration finds nothing.
``plugged``
    The cable is back: the device enumerates again (the host must reconnect).
any :class:`~.device.UsbFault` value (``unplug``, ``stall``, ``halt``, ``short``, ...)
    That fault is shown once, as when assigned to ``device.fault`` (``unplug``: the
    device goes away after the first transfer of the next frame).

Write the file atomically (a temporary file renamed over it): a change is recognised by
the file's inode, size and modification time. A missing file changes nothing; an unknown
word is logged and ignored.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .device import U3VDeviceModel, UsbFault

__all__ = ["ControlFile"]

_log = logging.getLogger(__name__)


class ControlFile:
    """The ``control=PATH`` file of a simulated USB panel (see the module docstring).

    Parameters
    ----------
    path : str or pathlib.Path
        The file another process writes.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._seen: tuple[int, int, int] | None = None

    def apply(self, device: U3VDeviceModel) -> None:
        """Apply the file's word to ``device`` if the file changed since the last call."""
        try:
            info = os.stat(self.path)
            signature = (info.st_ino, info.st_size, info.st_mtime_ns)
            if signature == self._seen:
                return
            word = self.path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return
        self._seen = signature
        if word in ("plugged", "unplugged"):
            device.plugged = word == "plugged"
        else:
            try:
                device.fault = UsbFault(word)
            except ValueError:
                _log.warning("ignored %r in the control file %s", word, self.path)
                return
        _log.info("simulated USB panel: %s (control file %s)", word, self.path)

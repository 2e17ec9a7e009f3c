"""USB3 Vision driver over pyusb, URL ``usb://VID:PID[/SERIAL]``.

:mod:`.protocol` (pure U3VCP / stream packet encoding), :mod:`.control` (GenCP with request
ids, pending acks, resend), :mod:`.stream` (SIRM, leader / payload / trailer),
:mod:`.features` (GenApi over our port), :mod:`.detector` (the Detector contract).
"""

from .control import GenCPStatusError
from .detector import U3VDetector
from .stream import IncompleteBlock
from .usberrors import EndpointHalted

__all__ = ["EndpointHalted", "GenCPStatusError", "IncompleteBlock", "U3VDetector"]

"""USB3 Vision driver over pyusb, URL ``usb://VID:PID[/SERIAL]``."""

__all__: list[str] = []

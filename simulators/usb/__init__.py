"""A simulated USB3 Vision panel presented to pyusb as a backend."""

__all__: list[str] = []

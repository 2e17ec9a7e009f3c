"""X-ray generator link over a serial line (pyserial)."""

__all__: list[str] = []

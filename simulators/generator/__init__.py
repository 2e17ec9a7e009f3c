"""A simulated X-ray generator behind a pseudo-terminal."""

__all__: list[str] = []

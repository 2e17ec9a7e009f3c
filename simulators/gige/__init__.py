"""A simulated flat panel speaking GigE Vision on the wire (GVCP/GVSP over UDP)."""

__all__: list[str] = []

"""The durable store-and-forward outbox between acquisition and the PACS."""

__all__: list[str] = []

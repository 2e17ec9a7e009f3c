"""GigE Vision (GVCP control, GVSP streaming) driver, URL ``gige://HOST[:PORT]``."""

__all__: list[str] = []

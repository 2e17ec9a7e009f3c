"""Structured logs: one JSON object per line, for log shippers (``--log-format json``).

Each record becomes ``{"time", "level", "logger", "message"}`` plus the record's ``extra``
fields (a frame id, an instance UID, a destination) and, for an exception, its type and
traceback text. What the message says is what the text format says: patient data stays at
DEBUG, which is off unless ``-vv`` is given.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

__all__ = ["JsonFormatter"]

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """Format a log record as one line of JSON (UTC time with milliseconds)."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON object on one line."""
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        )
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)

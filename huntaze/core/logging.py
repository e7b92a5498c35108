"""JSON log lines: one object per line, with the record's extra fields (ids, counts) kept as
keys."""

from __future__ import annotations

from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

# Keys that must never reach a log line, whatever a caller passes in `extra`.
_REDACTED_KEYS = {"password", "token", "access", "refresh", "authorization", "api_key", "secret"}


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("timestamp", True)
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)

    def process_log_record(self, log_record: dict[str, Any]) -> dict[str, Any]:
        for key in list(log_record):
            if key.lower() in _REDACTED_KEYS:
                log_record[key] = "[redacted]"
        return super().process_log_record(log_record)

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def iso_z(value: datetime) -> str: ...
@overload
def iso_z(value: datetime | None) -> str | None: ...
def iso_z(value: datetime | None) -> str | None:
    """An aware datetime as the API writes it: `2025-11-01T12:00:06Z` (milliseconds kept)."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")

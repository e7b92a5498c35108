"""Ids from outside (a URL, a command line, a queue body): anything malformed is no id."""

from __future__ import annotations

import uuid


def parse_uuid(value: object) -> uuid.UUID | None:
    """The UUID `value` spells, or None: the caller answers "not found", never a 500."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None

"""Ids from outside (a URL, a form, a command line, a queue body): anything malformed is no id."""

from __future__ import annotations

import uuid

# Integer ids are 64-bit signed (BigAutoField): a larger number is no id, never an overflow.
MAX_ID = 2**63 - 1


def parse_int(value: object, *, signed: bool = False) -> int | None:
    """The integer `value` spells in ASCII digits (a leading "-" when `signed`), within a 64-bit
    signed integer; None otherwise. `str.isdigit()` alone takes "²" and "١٢", which `int()`
    refuses ("²") or reads as another number ("١٢" is 12): only 0-9 count."""
    text = str(value)
    digits = text[1:] if signed and text.startswith("-") else text
    # More than 19 significant digits is out of range (and int() refuses 4,301 digits or more).
    if not (digits.isascii() and digits.isdigit()) or len(digits.lstrip("0")) > 19:
        return None
    number = int(text)
    return number if -MAX_ID - 1 <= number <= MAX_ID else None


def parse_id(value: object) -> int | None:
    """A row's integer id: a positive 64-bit integer in ASCII digits, or None (not found)."""
    number = parse_int(value)
    return number if number is not None and number > 0 else None


def parse_uuid(value: object) -> uuid.UUID | None:
    """The UUID `value` spells, or None: the caller answers "not found", never a 500."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None

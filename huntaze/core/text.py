"""Text that PostgreSQL can store: its text and jsonb types refuse NUL (\\u0000), and a lone
surrogate (JSON allows "\\ud800") has no UTF-8 form. Either would surface as a 500 when the
value is measured or saved, so the API refuses it up front."""

from __future__ import annotations


def is_storable_text(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True

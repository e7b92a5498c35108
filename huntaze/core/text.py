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


def json_text_problem(document: object, *, max_depth: int | None = None) -> str | None:
    """Why a parsed JSON document cannot be stored, or None: "unstorable" when a key or a string
    anywhere in it is not storable text, "too_deep" when it nests more than `max_depth` levels
    (the document itself is level 1). Walked without recursion: nesting is unbounded, and depth
    may be what is being checked."""
    stack = [(document, 1)]
    while stack:
        item, depth = stack.pop()
        if max_depth is not None and depth > max_depth:
            return "too_deep"
        if isinstance(item, str):
            if not is_storable_text(item):
                return "unstorable"
        elif isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((value, depth + 1) for value in item.values())
        elif isinstance(item, list):
            stack.extend((value, depth + 1) for value in item)
    return None

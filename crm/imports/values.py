"""Cell parsers: a raw CSV cell in, a model value out, or ValueError with a reason people read.

They run a million times for a 100,000-row file, so each starts with a fast path for the
common, clean value and only then tries the other spellings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from crm.fields import TAG_MAX_LENGTH, TAGS_MAX
from crm.imports.columns import Column
from huntaze.core.ids import parse_int
from huntaze.core.text import is_storable_text

ZERO = Decimal("0.00")
MONEY_LIMIT = Decimal("10000000000")  # max_digits=12, decimal_places=2
MIN_YEAR, MAX_YEAR = 1970, 2100

Parser = Callable[[str], Any]

# --- money ------------------------------------------------------------------------------------
_PLAIN_MONEY = re.compile(r"\d{1,10}(?:\.\d{1,2})?")
_CURRENCY = re.compile(
    r"^(?:usd|eur|gbp|cad|aud|us\$|[$€£¥])|(?:usd|eur|gbp|cad|aud|[$€£¥])$", re.I
)
_GROUPED_COMMA = re.compile(r"\d{1,3}(?:,\d{3})+")
_GROUPED_DOT = re.compile(r"\d{1,3}(?:\.\d{3}){2,}")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_US_MONEY = re.compile(r"\$?(\d{1,3}(?:,\d{3})+|\d{1,10})(\.\d{1,2})?")
_SPACES = re.compile("[ \u00a0\u202f']+")


def parse_money(raw: str) -> Decimal:
    """`12`, `12.5`, `$1,234.56`, `1.234,56 €`, `12,50`, `USD 12`. Never negative."""
    if _PLAIN_MONEY.fullmatch(raw):
        return Decimal(raw)
    return _parse_money(raw)


@lru_cache(maxsize=8192)  # exports repeat amounts (prices, round sums); Decimals are immutable
def _parse_money(raw: str) -> Decimal:
    match = _US_MONEY.fullmatch(raw)
    if match:
        value = Decimal(match[1].replace(",", "") + (match[2] or ""))
        if value >= MONEY_LIMIT:
            raise ValueError("is too large")
        return value
    text = raw.strip()
    if not text:
        return ZERO
    text = _SPACES.sub("", text)
    text = text.lstrip("+")
    for _ in range(2):
        text = _CURRENCY.sub("", text)
    if text.startswith(("-", "\u2212", "(")) or text.endswith("-"):
        raise ValueError("must not be negative")
    if "," in text and "." in text:
        # The last separator is the decimal one: 1,234.56 and 1.234,56.
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
    elif "," in text:
        text = text.replace(",", "") if _GROUPED_COMMA.fullmatch(text) else text.replace(",", ".")
    elif _GROUPED_DOT.fullmatch(text):
        text = text.replace(".", "")
    if not _DIGITS.fullmatch(text):
        raise ValueError("is not an amount of money")
    if "." in text and len(text.rsplit(".", 1)[1]) > 2:
        raise ValueError("has more than 2 decimal places")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("is not an amount of money") from None
    if value >= MONEY_LIMIT:
        raise ValueError("is too large")
    return value


# --- dates ------------------------------------------------------------------------------------
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_TIME = (
    r"(?:(?:\s+|T|,\s*|\s+at\s+)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,6}))?)?"
    r"\s*(?P<ampm>[ap]\.?m\.?)?)?\s*(?P<tz>z|utc|gmt|[+-]\d{2}:?\d{2})?"
)
_WEEKDAY = r"(?:[a-z]{3,9},?\s+)?"
_NUMERIC_DATE = re.compile(
    r"(?P<a>\d{1,4})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{2,4})" + _TIME, re.I
)
_MONTH_FIRST = re.compile(
    _WEEKDAY + r"(?P<mon>[a-z]{3,9})\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})" + _TIME,
    re.I,
)
_DAY_FIRST = re.compile(
    _WEEKDAY
    + r"(?P<d>\d{1,2})(?:st|nd|rd|th)?[\s\-]+(?P<mon>[a-z]{3,9})\.?[\s\-,]+(?P<y>\d{4})"
    + _TIME,
    re.I,
)
_EPOCH = datetime(1970, 1, 1)
# A slash or dash date whose day and month may be either way round (not dot: always day first).
AMBIGUOUS_DATE = re.compile(r"\s*(\d{1,2})[/\-](\d{1,2})[/\-]\d{2,4}\b")


def _tzinfo(text: str | None) -> timezone | None:
    if not text or text.lower() in {"z", "utc", "gmt"}:
        return None  # already UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _build(year: int, month: int, day: int, match: re.Match) -> datetime:
    if year < 100:
        year += 2000
    hour = int(match["H"] or 0)
    if match["ampm"]:
        if not 1 <= hour <= 12:
            raise ValueError("has an hour that does not fit am/pm")
        hour = hour % 12 + (12 if match["ampm"][0].lower() == "p" else 0)
    micro = int((match["f"] or "0").ljust(6, "0"))
    try:
        value = datetime(
            year,
            month,
            day,
            hour,
            int(match["M"] or 0),
            int(match["S"] or 0),
            micro,
            tzinfo=_tzinfo(match["tz"]),
        )
    except ValueError:
        raise ValueError("is not a real date") from None
    return value


def _checked(value: datetime) -> datetime:
    """Naive, in UTC: the store compares and writes datetimes that way (see store.py)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"is outside {MIN_YEAR}–{MAX_YEAR}")
    return value


@lru_cache(maxsize=8192)  # exports repeat dates (day-precision ones often); datetimes are immutable
def parse_datetime(raw: str, *, day_first: bool) -> datetime | None:
    """ISO 8601, `2024-01-31 10:00`, `01/31/2024`, `31/01/2024`, `31.01.2024`,
    `Jan 31, 2024 10:15 pm`, `31 Jan 2024`, Unix seconds or milliseconds. Times without a zone are
    UTC; the result is a naive datetime in UTC."""
    text = raw.strip()
    if not text:
        return None
    if len(text) >= 10 and text[4] == "-" and text[:4].isdigit():
        try:
            return _checked(datetime.fromisoformat(text))
        except ValueError:
            pass
    stamp = parse_int(text) if len(text) in (10, 13) else None
    if stamp is not None:
        seconds = stamp / (1000 if len(text) == 13 else 1)
        return _checked(_EPOCH + timedelta(seconds=seconds))
    match = _NUMERIC_DATE.fullmatch(text)
    if match:
        a, b, c = match["a"], match["b"], match["c"]
        if len(a) == 4:
            year, month, day = int(a), int(b), int(c)
        elif len(c) in (2, 4):
            first, second = int(a), int(b)
            if match["sep"] == "." or day_first:
                day, month = first, second
            else:
                month, day = first, second
            year = int(c)
        else:
            raise ValueError("is not a date")
        if not 1 <= month <= 12:
            order = "DD/MM/YYYY" if match["sep"] == "." or day_first else "MM/DD/YYYY"
            raise ValueError(f"has no month {month} (read as {order})")
        return _checked(_build(year, month, day, match))
    match = _MONTH_FIRST.fullmatch(text) or _DAY_FIRST.fullmatch(text)
    if match:
        named_month = _MONTHS.get(match["mon"].lower())
        if named_month is None:
            raise ValueError(f"has an unknown month {match['mon']!r}")
        return _checked(_build(int(match["y"]), named_month, int(match["d"]), match))
    raise ValueError("is not a date")


# --- the rest ---------------------------------------------------------------------------------
_TRUE = {"true", "yes", "y", "1", "on", "enabled", "active", "t"}
_FALSE = {"false", "no", "n", "0", "off", "disabled", "inactive", "f", ""}
_ACTIVE = {"active", "subscribed", "current", "renewing", "yes", "true", "1", "on", "subscriber"}
_EXPIRED = {
    "expired",
    "inactive",
    "unsubscribed",
    "cancelled",
    "canceled",
    "former",
    "ended",
    "lapsed",
    "no",
    "false",
    "0",
    "off",
    "expiredsubscriber",
}
_SCIENTIFIC = re.compile(r"\d(?:[.,]\d+)?e\+?\d+", re.I)
_TAG_SPLIT = re.compile(r"[,;|]")
_SPACE = re.compile(r"\s")


def parse_bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be yes or no (true/false, on/off, 1/0)")


def parse_status(raw: str) -> str | None:
    text = raw.strip().lower().replace(" ", "").replace("_", "")
    if not text:
        return None  # decided from the expiry date
    if text in _ACTIVE:
        return "active"
    if text in _EXPIRED:
        return "expired"
    raise ValueError("must be active or expired")


def parse_tags(raw: str) -> list[str]:
    text = raw.strip()
    if not text:
        return []
    items: list[Any]
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            raise ValueError("is not a JSON list of tags") from None
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ValueError("is not a JSON list of tags")
    else:
        items = _TAG_SPLIT.split(text)
    tags: list[str] = []
    for item in items:
        tag = _no_nul(item.strip())
        if not tag or tag in tags:
            continue
        if len(tag) > TAG_MAX_LENGTH:
            raise ValueError(f"has a tag longer than {TAG_MAX_LENGTH} characters")
        tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise ValueError(f"has more than {TAGS_MAX} tags")
    return tags


def _no_nul(value: str) -> str:
    # PostgreSQL refuses NUL in text and jsonb: one such cell would fail its whole batch. (The
    # file is decoded strictly, so a cell never holds the other unstorable text, a lone
    # surrogate.)
    if not is_storable_text(value):
        raise ValueError("contains a NUL character")
    return value


def _length_checked(value: str, column: Column) -> str:
    _no_nul(value)
    if column.max_length is not None and len(value) > column.max_length:
        raise ValueError(f"is longer than {column.max_length} characters")
    return value


def parser_for(column: Column, *, day_first: bool) -> Parser:
    kind = column.kind
    if kind == "id":

        def parse_id(raw: str) -> str:
            value = raw.strip()
            if not value:
                raise ValueError("is required")
            if _SCIENTIFIC.fullmatch(value):
                raise ValueError(
                    "was turned into scientific notation by a spreadsheet; "
                    "export the column as text"
                )
            if _SPACE.search(value):
                raise ValueError("must not contain spaces")
            return _length_checked(value, column)

        return parse_id
    if kind == "username":
        return lambda raw: _length_checked(raw.strip().lstrip("@"), column)
    if kind == "text":
        return lambda raw: _length_checked(raw.strip(), column)
    if kind == "notes":
        return lambda raw: _no_nul(raw.replace("\r\n", "\n").replace("\r", "\n").strip())
    if kind == "money":
        return parse_money
    if kind == "date":
        return lambda raw: parse_datetime(raw, day_first=day_first)
    if kind == "bool":
        return parse_bool
    if kind == "status":
        return parse_status
    if kind == "tags":
        return parse_tags
    raise AssertionError(kind)

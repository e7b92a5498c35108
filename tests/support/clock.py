"""Checking a moment the server took without a margin for a slow machine: read the clock just
before and just after the call, and the server's moment lies between the two readings (the
server's clocks, Django's and the test Redis's TIME, are this machine's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from tests.support.api import parse_iso

# The APIs write milliseconds (truncated), and a float of seconds becomes whole microseconds.
_ROUNDING = timedelta(milliseconds=1)


@dataclass
class Span:
    start: datetime
    end: datetime | None = None


@contextmanager
def measured() -> Iterator[Span]:
    """`with measured() as span:` around a call; `span.start` and `span.end` after it."""
    span = Span(start=timezone.now())
    try:
        yield span
    finally:
        span.end = timezone.now()


def assert_within(moment: datetime | str, span: Span, *, plus: float = 0.0) -> datetime:
    """`moment` (a datetime or an API's ISO string) was taken during `span`, `plus` seconds
    ahead (a slot that many seconds after the moment of the call)."""
    at = parse_iso(moment) if isinstance(moment, str) else moment
    assert span.end is not None, "the span is still open"
    shift = timedelta(seconds=plus)
    low, high = span.start + shift - _ROUNDING, span.end + shift + _ROUNDING
    assert low <= at <= high, (
        f"{at.isoformat()} is not within [{low.isoformat()}, {high.isoformat()}]"
    )
    return at

"""What the pages share over HTTP: the request type (django-htmx's middleware adds
`request.htmx`) and the version a poll compares to answer 204 while nothing changed."""

from __future__ import annotations

import hashlib

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """For annotations only (django-htmx's documented pattern): Django builds the request."""

    htmx: HtmxDetails


def state_version(state: object) -> str:
    """What the client has on screen (any value with a stable repr), in 16 hex digits: the poll
    answers 204 while the version it was sent holds."""
    return hashlib.sha1(repr(state).encode(), usedforsecurity=False).hexdigest()[:16]

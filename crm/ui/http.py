"""The request type of the pages: django-htmx's middleware adds `request.htmx`."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """For annotations only (django-htmx's documented pattern): Django builds the request."""

    htmx: HtmxDetails

"""One API view class per operation, several operations on one URL.

Django routes a path to one view; `route(GET=FanListApi, POST=FanCreateApi)` is that view and
hands each request to the operation's own class (its own serializers, throttles, schema).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView

from huntaze.core.errors import error_body


def route(name: str, **operations: type[APIView]) -> Callable[..., HttpResponseBase]:
    views = {method.upper(): cls.as_view() for method, cls in operations.items()}
    if "GET" in views:
        views.setdefault("HEAD", views["GET"])
    allow = ", ".join(sorted(views))

    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        handler = views.get(request.method or "")
        if handler is not None:
            return handler(request, *args, **kwargs)
        if request.method == "OPTIONS":
            return HttpResponse(status=204, headers={"Allow": allow})
        return JsonResponse(
            error_body("method_not_allowed", f'Method "{request.method}" not allowed.'),
            status=405,
            headers={"Allow": allow},
        )

    # drf-spectacular documents a URL from `view.cls`: a class holding every operation's
    # method (each with its own @extend_schema) stands in for the router.
    # (Attributes on a function: mypy cannot type them, hence the ignores.)
    view.cls = type(name, tuple(operations.values()), {})  # type: ignore[attr-defined]
    view.initkwargs = {}  # type: ignore[attr-defined]
    view.__name__ = name
    return csrf_exempt(view)


def endpoint(pattern: str, name: str, route_name: str, **operations: type[APIView]) -> URLPattern:
    """`pattern` served with and without a trailing slash, each method by its operation's view."""
    return re_path(rf"^{pattern}/?$", route(route_name, **operations), name=name)

"""One application error type, one exception handler, one error body shape.

Every API error answers::

    {"error": {"code": "validation_error", "message": "…", "details": {"recipientId": ["…"]}}}

`details` is present only when there is something field-specific to say.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A failure the client should hear about, with an HTTP status and a stable code."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details or {}
        self.headers = headers or {}


class ServiceUnavailable(ApplicationError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "service_unavailable"


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class NotFound(ApplicationError):
    """What a selector raises for a row that is not the user's (or does not exist): the same 404."""

    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class InvalidInput(ApplicationError):
    """A refusal keyed by field, outside a serializer (a selector's): it answers exactly as a
    serializer's ValidationError does, `validation_error` with `details`."""

    code = "validation_error"

    def __init__(self, details: dict[str, list[str]]) -> None:
        super().__init__(_validation_message(details), details=details)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


_CODES: dict[type[exceptions.APIException], tuple[str, str]] = {
    exceptions.ParseError: ("invalid_json", "The request body is not valid JSON."),
    exceptions.NotAuthenticated: (
        "not_authenticated",
        "Authentication credentials were not provided.",
    ),
    exceptions.AuthenticationFailed: (
        "authentication_failed",
        "The credentials are invalid or expired.",
    ),
    exceptions.PermissionDenied: ("permission_denied", "You do not have permission to do this."),
    exceptions.NotFound: ("not_found", "Not found."),
    exceptions.MethodNotAllowed: ("method_not_allowed", "Method not allowed."),
    exceptions.NotAcceptable: ("not_acceptable", "Not acceptable."),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", "Unsupported media type."),
    exceptions.Throttled: ("rate_limited", "Too many requests."),
}


def _flatten_detail(detail: Any) -> Any:
    """DRF ErrorDetail trees become plain strings, lists and dicts."""
    if isinstance(detail, dict):
        return {key: _flatten_detail(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten_detail(value) for value in detail]
    return str(detail)


def _error_paths(details: Any, prefix: str = "") -> list[str]:
    """Where the errors are, as a client would write it: `messages[1].content`, `mediaUrls[0]`."""
    if isinstance(details, dict):
        paths = []
        for key, value in details.items():
            if key == "nonFieldErrors":
                if prefix:
                    paths.append(prefix)
                continue
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                child = f"{prefix}[{key}]"
            else:
                child = f"{prefix}.{key}" if prefix else str(key)
            paths.extend(_error_paths(value, child))
        return paths
    if isinstance(details, list) and any(isinstance(item, dict | list) for item in details):
        # A list serializer's errors: one entry per item, empty for the valid ones.
        paths = []
        for index, item in enumerate(details):
            if item:
                paths.extend(_error_paths(item, f"{prefix}[{index}]"))
        return paths
    return [prefix] if prefix else []


def _validation_message(details: Any) -> str:
    paths = list(dict.fromkeys(_error_paths(details)))
    if paths:
        return f"Invalid request: check {', '.join(paths)}."
    if isinstance(details, dict) and details.get("nonFieldErrors"):
        return f"Invalid request: {details['nonFieldErrors'][0]}"
    return "Invalid request."


# The database cannot be reached (stopped, restarting, connection lost): the request may succeed
# later, so it is a 503, never a 500 — and nothing was accepted.
DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE = (
    "database_unavailable",
    "The database is unavailable; nothing was saved. Try again shortly.",
)


def database_unavailable_response() -> Response:
    return Response(
        error_body(*DATABASE_UNAVAILABLE),
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: everything, including the unexpected, becomes the one shape."""
    if isinstance(exc, DATABASE_ERRORS):
        logger.warning("API: the database is unavailable", extra={"error": str(exc)})
        return database_unavailable_response()
    if isinstance(exc, ApplicationError):
        return Response(
            error_body(exc.code, exc.message, exc.details),
            status=exc.status_code,
            headers=exc.headers,
        )
    if isinstance(exc, RequestDataTooBig):
        # Django refuses to read the body; without this it would surface as a 500.
        return Response(
            error_body(
                "payload_too_large",
                f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
            ),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.exception(
            "Unhandled API error", extra={"view": type(view).__name__ if view else None}
        )
        return Response(
            error_body("internal_error", "An unexpected error occurred."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        details = _flatten_detail(exc.detail)
        if isinstance(details, list):
            details = {"nonFieldErrors": details}
        response.data = error_body("validation_error", _validation_message(details), details)
        return response

    code, message = "error", str(exc.detail) if not isinstance(exc.detail, dict | list) else ""
    for exc_type, (known_code, default_message) in _CODES.items():
        if isinstance(exc, exc_type):
            code = known_code
            if isinstance(exc.detail, dict | list) or not message:
                message = default_message
            break
    # Throttled sets `wait` in its __init__; the DRF stubs do not declare it.
    wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
    if wait is not None:
        message = f"Too many requests. Retry in {int(wait + 0.999)} seconds."
    if isinstance(exc, exceptions.ParseError):
        message = f"The request body is not valid JSON: {exc.detail}"
    response.data = error_body(code, message or "Error.")
    return response


def json_error_view(status_code: int, code: str, message: str) -> Callable[..., JsonResponse]:
    def view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
        return JsonResponse(error_body(code, message), status=status_code)

    return view


handler400 = json_error_view(400, "bad_request", "Bad request.")
handler403 = json_error_view(403, "permission_denied", "You do not have permission to do this.")
handler404 = json_error_view(404, "not_found", "Not found.")
api_not_found = json_error_view(404, "not_found", "No such API route.")
_PAGE_DATABASE_UNAVAILABLE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    "<title>Temporarily unavailable</title></head>"
    "<body><h1>Temporarily unavailable</h1>"
    "<p>The database cannot be reached right now; nothing was saved. "
    "Please try again in a few seconds.</p></body></html>"
)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )


def handler500(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    """Django's last resort (an exception outside DRF: a page, a middleware). When the cause is
    the database being unreachable, a 503 that says so — JSON for the API, a page otherwise."""
    cause = exception or sys.exc_info()[1]
    if isinstance(cause, DATABASE_ERRORS):
        if _is_api(request):
            response: HttpResponse = JsonResponse(error_body(*DATABASE_UNAVAILABLE), status=503)
        else:
            response = HttpResponse(
                _PAGE_DATABASE_UNAVAILABLE, status=503, content_type="text/html; charset=utf-8"
            )
        response["Retry-After"] = "5"
        return response
    return JsonResponse(error_body("internal_error", "An unexpected error occurred."), status=500)

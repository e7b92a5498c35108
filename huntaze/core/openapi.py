"""drf-spectacular hooks (routes as the seed writes them, bodies as JSON) and what every app's
views document alike: the one error body and the Idempotency-Key header."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as _AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from huntaze.core.idempotency import IDEMPOTENCY_HEADER

# simplejwt's conventional paths keep their slash (DESIGN.md writes them so).
_KEEP_TRAILING_SLASH = ("/api/auth/",)


def document_seed_paths(endpoints, **kwargs):
    """A route served with and without its trailing slash (`…/?$`) is documented once, in the
    seed's form without it: `/api/onlyfans/messages/send`, not `/api/onlyfans/messages/send/`."""
    documented = []
    for path, path_regex, method, callback in endpoints:
        if (
            path_regex.endswith("/?$")
            and path.endswith("/")
            and len(path) > 1
            and not path.startswith(_KEEP_TRAILING_SLASH)
        ):
            path = path[:-1]
        documented.append((path, path_regex, method, callback))
    return documented


class AutoSchema(_AutoSchema):
    """Our JSON parser accepts any Content-Type (a client that forgot the header still gets
    through), but the body it documents is JSON."""

    def map_parsers(self):
        return list(
            dict.fromkeys("application/json" if media == "*/*" else media for media in super().map_parsers())
        )


class ErrorSerializer(serializers.Serializer):
    """Every error answers this one shape."""

    class ErrorBody(serializers.Serializer):
        code = serializers.CharField(help_text="Stable, machine-readable: validation_error, not_found…")
        message = serializers.CharField(help_text="For humans.")
        details = serializers.DictField(
            required=False, help_text="Field-specific errors, keyed by the request's field names."
        )

    error = ErrorBody()


def error_response(description: str) -> OpenApiResponse:
    """An error status in a view's `responses`: the one error body, with what it means there."""
    return OpenApiResponse(ErrorSerializer, description=description)


IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    description="Sending the same key again returns the original message instead of a second one.",
)

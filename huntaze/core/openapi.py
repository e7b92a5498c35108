"""drf-spectacular hooks (routes without their trailing slash, bodies as JSON) and what every app's
views document alike: the one error body and the Idempotency-Key header."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as _AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from huntaze.core.fields import RejectUnknownFieldsMixin
from huntaze.core.idempotency import (
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_MAX_LENGTH,
    IDEMPOTENCY_KEY_PATTERN,
)


def _char_class(chars: str) -> str:
    """Characters as an ECMAScript class body of \\uXXXX escapes and ranges (BMP only)."""
    codes, parts = sorted(ord(c) for c in chars), []
    start = prev = codes[0]
    for code in [*codes[1:], None]:
        if code is not None and code == prev + 1:
            prev = code
            continue
        parts.append(f"\\u{start:04x}" + (f"-\\u{prev:04x}" if prev > start else ""))
        if code is not None:
            start = prev = code
    return "".join(parts)


# What DRF's CharField refuses beyond its lengths: a NUL anywhere, and a value that is blank once
# stripped, whitespace as Python's str.strip() sees it (spelt out: Python's \s, ECMAScript's
# and Rust's differ).
_NUL = "\\u0000"
_NOT_BLANK = (
    "[^" + _NUL + _char_class("".join(chr(c) for c in range(0x10000) if chr(c).isspace())) + "]"
)
TEXT_PATTERN = f"^[^{_NUL}]*$"
NOT_BLANK_TEXT_PATTERN = f"^[^{_NUL}]*{_NOT_BLANK}[^{_NUL}]*$"

# simplejwt's conventional paths keep their slash (the token routes clients call end with one).
_KEEP_TRAILING_SLASH = ("/api/auth/",)


def document_paths_without_trailing_slash(
    endpoints: list[tuple[str, str, str, Any]], **kwargs: Any
) -> list[tuple[str, str, str, Any]]:
    """A route served with and without its trailing slash (`…/?$`) is documented once, in the
    form clients call, without it: `/api/onlyfans/messages/send`, not `…/messages/send/`."""
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
    through), but the body it documents is JSON. The schema declares every bound the
    serializers enforce: a body whose serializer refuses unknown fields says so
    (`additionalProperties: false`), and a nested list its item counts."""

    def _map_serializer(
        self, serializer: Any, direction: str, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        instance = force_instance(serializer)
        if direction == "request":
            if isinstance(instance, RejectUnknownFieldsMixin):
                schema["additionalProperties"] = False
            # A rule across fields that the serializer's validate() enforces ("segmentId or
            # filter"), written as JSON Schema: `openapi_request_schema = {"oneOf": […]}`.
            schema.update(getattr(instance, "openapi_request_schema", {}))
        return schema

    def _map_serializer_field(
        self, field: Any, direction: str, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        override = getattr(field, "openapi_request_schema", None)
        if direction == "request" and override is not None and "$ref" not in schema:
            # A field that takes more than its output type (money: "12.50" or 12.5) says what,
            # keeping the description, default and nullable drf-spectacular wrote.
            for key in (
                "type",
                "format",
                "pattern",
                "minimum",
                "maximum",
                "minLength",
                "maxLength",
            ):
                schema.pop(key, None)
            schema.update(override)
        # A nested `many=True` serializer's bounds (allow_empty, max_length), which
        # drf-spectacular leaves out; a ListField's it writes already.
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
        ):
            # minLength 1 alone would let "  " and "a\x00" through; the field refuses both.
            schema.setdefault(
                "pattern", TEXT_PATTERN if field.allow_blank else NOT_BLANK_TEXT_PATTERN
            )
        if direction == "request" and isinstance(field, serializers.ListSerializer):
            # ListSerializer has min_length / max_length since DRF 3.14; the stubs lack them.
            min_length = getattr(field, "min_length", None)
            max_length = getattr(field, "max_length", None)
            if not field.allow_empty:
                schema.setdefault("minItems", max(1, min_length or 0))
            elif min_length is not None:
                schema.setdefault("minItems", min_length)
            if max_length is not None:
                schema.setdefault("maxItems", max_length)
        return schema

    def map_parsers(self) -> list[str]:
        return list(
            dict.fromkeys(
                "application/json" if media == "*/*" else media for media in super().map_parsers()
            )
        )


class ErrorSerializer(serializers.Serializer):
    """Every error answers this one shape."""

    class ErrorBody(serializers.Serializer):
        code = serializers.CharField(
            help_text="Stable, machine-readable: validation_error, not_found…"
        )
        message = serializers.CharField(help_text="For humans.")
        details = serializers.DictField(
            required=False, help_text="Field-specific errors, keyed by the request's field names."
        )

    error = ErrorBody()


def error_response(description: str) -> OpenApiResponse:
    """An error status in a view's `responses`: the one error body, with what it means there."""
    return OpenApiResponse(ErrorSerializer, description=description)


# What any authenticated route can answer, documented alike in both apps.
UNAUTHENTICATED = error_response("No token, or an expired or invalid one.")
SERVER_ERROR = error_response("Unexpected error.")


IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    {
        "type": "string",
        "minLength": 1,
        "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
        "pattern": IDEMPOTENCY_KEY_PATTERN,
    },
    OpenApiParameter.HEADER,
    description="Sending the same key again returns the original message instead of a second one.",
)

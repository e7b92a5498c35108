"""The Idempotency-Key request header of the send routes (the pipeline's and the CRM's thread)."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 255
# HTTP's optional whitespace around a header value; a key of only that is blank.
_OWS = " \t"
# The same rule in the OpenAPI schema (JSON Schema patterns are unanchored: "has one such
# character").
IDEMPOTENCY_KEY_PATTERN = r"[^ \t]"


def idempotency_key(request: Request) -> str | None:
    """The request's key, stripped; None without the header. A blank or too long one is a 400,
    exactly as the schema declares it (IDEMPOTENCY_KEY_PARAMETER: the length is the header's)."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.strip(_OWS):
        raise ValidationError(
            {IDEMPOTENCY_HEADER: [f"Must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters."]}
        )
    return key.strip(_OWS)

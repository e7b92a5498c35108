"""The Idempotency-Key request header of the send routes (the pipeline's and the CRM's thread)."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 255


def idempotency_key(request) -> str | None:
    """The request's key, stripped; None without the header. A blank or too long one is a 400."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ValidationError(
            {IDEMPOTENCY_HEADER: [f"Must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters."]}
        )
    return key

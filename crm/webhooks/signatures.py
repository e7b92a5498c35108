"""The webhook's signature and its timestamp window (the scheme: crm/webhooks/__init__.py)."""

from __future__ import annotations

import hashlib
import hmac
import time

from django.conf import settings
from rest_framework import status

from huntaze.core.errors import ApplicationError, ServiceUnavailable
from huntaze.core.ids import parse_int
from onlyfans.models import OnlyFansAccount

TIMESTAMP_HEADER = "X-Huntaze-Timestamp"
SIGNATURE_HEADER = "X-Huntaze-Signature"
SIGNATURE_PREFIX = "sha256="


class InvalidSignature(ApplicationError):
    status_code = status.HTTP_401_UNAUTHORIZED
    code = "invalid_signature"


def secret_for(account: OnlyFansAccount) -> str | None:
    return account.webhook_secret or settings.ONLYFANS_WEBHOOK_SECRET


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(
    *, account: OnlyFansAccount, timestamp: str | None, signatures: str | None, body: bytes
) -> None:
    secret = secret_for(account)
    if not secret:
        raise ServiceUnavailable(
            "No webhook secret is configured for this account (ONLYFANS_WEBHOOK_SECRET).",
            code="webhook_not_configured",
        )
    if not timestamp or not signatures:
        raise InvalidSignature(
            f"The {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required."
        )
    timestamp = timestamp.strip()
    # ASCII digits only (isdigit() alone takes "²", which int() refuses), within 64 bits: a
    # larger number is no clock reading and would overflow the float arithmetic below.
    seconds = parse_int(timestamp)
    if seconds is None:
        raise InvalidSignature(f"{TIMESTAMP_HEADER} must be Unix seconds.")
    expected = signature(secret, timestamp, body)
    given = [value.strip() for value in signatures.split(",")]
    # compare_digest raises TypeError on a non-ASCII str (a header byte above 0x7F): such a
    # value cannot be our hex digest anyway.
    if not any(value.isascii() and hmac.compare_digest(expected, value) for value in given):
        raise InvalidSignature("The signature does not match the body.")
    # Checked after the signature so that only a genuine sender learns about its clock.
    skew = abs(time.time() - seconds)
    if skew > settings.ONLYFANS_WEBHOOK_TOLERANCE_SECONDS:
        raise InvalidSignature(
            f"The timestamp is {int(skew)} seconds away from now; at most "
            f"{settings.ONLYFANS_WEBHOOK_TOLERANCE_SECONDS} are accepted.",
            code="timestamp_out_of_range",
        )

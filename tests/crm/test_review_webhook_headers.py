"""Webhook signature and timestamp headers that are not what a sender should send are a 401,
never a 500: the endpoint is unauthenticated, so anyone can send them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from rest_framework.test import APIClient

from crm.models import WebhookEvent
from tests.crm.factories import error_of

SECRET = "test-webhook-secret"  # tests/settings.py sets ONLYFANS_WEBHOOK_SECRET to this
BODY = json.dumps(
    {"id": "evt_h", "type": "fan.renewed", "data": {"fan": {"onlyfansUserId": "fan_1"}}}
).encode()


def post(account, *, timestamp: str, signature: str):
    return APIClient().post(
        f"/api/onlyfans/webhooks/{account.pk}",
        data=BODY,
        content_type="application/json",
        HTTP_X_HUNTAZE_TIMESTAMP=timestamp,
        HTTP_X_HUNTAZE_SIGNATURE=signature,
    )


def signed(timestamp: str) -> str:
    mac = hmac.new(SECRET.encode(), timestamp.encode() + b"." + BODY, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


# WSGI servers decode header bytes as latin-1: a byte above 0x7F arrives as a non-ASCII str.
@pytest.mark.parametrize("signature", ["sha256=\xe9", "sha256=abc,\xff\xfe", "\xa0"])
def test_it_rejects_a_signature_header_with_non_ascii_bytes(account, signature):
    response = post(account, timestamp=str(int(time.time())), signature=signature)
    error_of(response, 401, "invalid_signature")
    assert not WebhookEvent.objects.exists()


# Even correctly signed, a timestamp that is not plain Unix seconds is refused, not a crash:
# "²" passes str.isdigit() but not int(); 400 digits overflow a float; 5000 exceed int()'s limit.
@pytest.mark.parametrize("timestamp", ["\xb2", "9" * 400, "1" * 5000])
def test_it_rejects_a_signed_timestamp_that_is_not_unix_seconds(account, timestamp):
    response = post(account, timestamp=timestamp, signature=signed(timestamp))
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] in {"invalid_signature", "timestamp_out_of_range"}
    assert not WebhookEvent.objects.exists()

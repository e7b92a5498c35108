"""Builders and HTTP helpers for the CRM tests."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from decimal import Decimal
from urllib.parse import quote

import pytest

from crm.models import Conversation, Fan, Message, MessageDirection

_counter = itertools.count(1)

# Ids in a URL that name no row: each route answers 404, never 500. "²" passes str.isdigit()
# but int() refuses it; "١٢" (Arabic-Indic digits) is 12 to int(); the next two overflow 64 bits
# and 5,000 digits are more than int() reads.
MALFORMED_IDS = [
    "abc",
    "0",
    "-1",
    "1.5",
    "²",
    "١٢",
    "99999999999999999999999",
    "9223372036854775808",
    pytest.param("1" * 5000, id="5000-digits"),
]


def url_id(value: str) -> str:
    """An id as a client puts it in a path: percent-encoded UTF-8 ("²" is %C2%B2)."""
    return quote(value, safe="")


def make_fan(account, **kwargs) -> Fan:
    n = next(_counter)
    values = {"onlyfans_user_id": f"fan_{n}", "username": f"fan{n}", "display_name": f"Fan {n}"}
    values.update(kwargs)
    for money in ("total_spent", "tips", "subscription_price"):
        if money in values:
            values[money] = Decimal(str(values[money]))
    return Fan.objects.create(account=account, **values)


def make_conversation(fan, **kwargs) -> Conversation:
    return Conversation.objects.create(account=fan.account, fan=fan, **kwargs)


def make_message(
    conversation, content="hello", direction=MessageDirection.INBOUND, **kwargs
) -> Message:
    return Message.objects.create(
        conversation=conversation, direction=direction, content=content, **kwargs
    )


def send_json(client, method: str, path: str, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return getattr(client, method)(path, data=data, content_type="application/json", **extra)


def error_of(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    if code is not None:
        assert error["code"] == code, error
    return error


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers a webhook sender adds (X-Huntaze-Timestamp and X-Huntaze-Signature)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_HUNTAZE_TIMESTAMP": stamp, "HTTP_X_HUNTAZE_SIGNATURE": f"sha256={mac}"}

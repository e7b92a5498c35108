"""Helpers for the JSON API tests: the seed's send route and bodies, posting JSON, the one
error shape, ISO timestamps."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

SEND = "/api/onlyfans/messages/send"
STATUS = "/api/onlyfans/messages/status"
SEED_BODY = {"recipientId": "fan_123", "content": "Hello! Thanks for subscribing", "priority": 5}
SEED_FULL_BODY = {
    "recipientId": "fan_123",
    "content": "Hello! Thanks for subscribing",
    "mediaUrls": ["https://s3.amazonaws.com/media/image.jpg"],
    "priority": 5,
    "metadata": {"campaignId": "campaign_123"},
}


def post_json(client, path: str, body: Any, **extra):
    return client.post(path, data=json.dumps(body), content_type="application/json", **extra)


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The one error shape: {"error": {"code", "message", "details"?}}, nothing else."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) <= {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]

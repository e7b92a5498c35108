from __future__ import annotations

import json

import pytest

from onlyfans.models import MessageStatus, OutboundMessage

SEND = "/api/onlyfans/messages/send"
SEED_BODY = {"recipientId": "fan_123", "content": "Hello! Thanks for subscribing", "priority": 5}


def post_json(client, path, body, **extra):
    return client.post(path, data=json.dumps(body), content_type="application/json", **extra)


@pytest.mark.django_db(transaction=True)
def test_it_accepts_the_seed_example(api, account, queues):
    response = post_json(api, SEND, SEED_BODY)
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"messageId", "status", "queuedAt", "estimatedSendTime", "message"}
    assert body["status"] == "queued"
    message = OutboundMessage.objects.get(pk=body["messageId"])
    assert message.status == MessageStatus.QUEUED
    assert message.account == account

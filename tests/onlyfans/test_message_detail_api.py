"""GET /api/onlyfans/messages/{messageId}: one message, its status and attempts, scoped to the
user."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from onlyfans.models import AttemptOutcome, DeliveryAttempt, MessageStatus, OutboundMessage
from tests.conftest import make_account
from tests.support.api import SEED_FULL_BODY, SEND, assert_error, parse_iso, post_json
from tests.support.clock import assert_within, measured


def detail(message_id) -> str:
    return f"/api/onlyfans/messages/{message_id}"


@pytest.mark.django_db
@pytest.mark.parametrize("slash", ["", "/"])
def test_it_shows_a_message_just_sent(api, account, slash):
    with measured() as sending:
        sent = post_json(api, SEND, SEED_FULL_BODY).json()
    with measured() as reading:
        response = api.get(detail(sent["messageId"]) + slash)
    assert response.status_code == 200, response.content
    body = response.json()
    # Computed when read, by the same model as the 202's: on an idle account the next slot is
    # the moment asked, for the 202 and for the read alike.
    assert_within(sent["estimatedSendTime"], sending)
    assert_within(body.pop("estimatedSendTime"), reading)
    assert body == {
        "messageId": sent["messageId"],
        "accountId": account.pk,
        "recipientId": "fan_123",
        "content": "Hello! Thanks for subscribing",
        "mediaUrls": ["https://s3.amazonaws.com/media/image.jpg"],
        "priority": 5,
        "lane": "interactive",
        "metadata": {"campaignId": "campaign_123"},
        "status": sent["status"],
        "attemptCount": 0,
        "lastError": "",
        "queuedAt": sent["queuedAt"],
        "nextAttemptAt": None,
        "waitingFor": "rate_limit",
        "scheduledAt": None,
        "sentAt": None,
        "upstreamId": "",
        "attempts": [],
    }


@pytest.mark.django_db
def test_it_lists_every_delivery_attempt_in_order(api, account):
    message = OutboundMessage.objects.create(
        account=account,
        sender=account.owner,
        recipient_id="fan_1",
        content="hi",
        status=MessageStatus.SENT,
        attempt_count=2,
        sent_at=timezone.now(),
        upstream_id="of-msg-9",
    )
    start = timezone.now() - timedelta(minutes=2)
    DeliveryAttempt.objects.create(
        message=message,
        number=2,
        outcome=AttemptOutcome.SENT,
        http_status=200,
        latency_ms=85,
        attempted_at=start + timedelta(seconds=30),
    )
    DeliveryAttempt.objects.create(
        message=message,
        number=1,
        outcome=AttemptOutcome.RETRY,
        http_status=503,
        error="HTTP 503: upstream down",
        latency_ms=120,
        attempted_at=start,
    )
    body = api.get(detail(message.pk)).json()
    assert body["status"] == "sent"
    assert body["attemptCount"] == 2
    assert body["upstreamId"] == "of-msg-9"
    assert parse_iso(body["sentAt"]) <= timezone.now()
    assert [a["number"] for a in body["attempts"]] == [1, 2]
    first = body["attempts"][0]
    assert first == {
        "number": 1,
        "attemptedAt": first["attemptedAt"],
        "outcome": "retry",
        "httpStatus": 503,
        "error": "HTTP 503: upstream down",
        "latencyMs": 120,
    }
    assert first["attemptedAt"].endswith("Z")


@pytest.mark.django_db
def test_it_hides_another_users_message(api, outsider_api, outsider, account):
    make_account(outsider)
    theirs = post_json(outsider_api, SEND, SEED_FULL_BODY).json()["messageId"]
    error = assert_error(api.get(detail(theirs)), 404, "not_found")
    assert "details" not in error
    assert outsider_api.get(detail(theirs)).status_code == 200


@pytest.mark.django_db
def test_it_shows_a_message_of_any_of_the_users_accounts(api, owner):
    make_account(owner)
    second = make_account(owner)
    sent = post_json(api, SEND, {**SEED_FULL_BODY, "accountId": second.pk}).json()
    assert api.get(detail(sent["messageId"])).json()["accountId"] == second.pk


@pytest.mark.django_db
@pytest.mark.parametrize("message_id", [uuid.uuid4(), "not-a-uuid", "12345"])
def test_it_answers_404_for_an_unknown_or_malformed_id(api, account, message_id):
    assert_error(api.get(detail(message_id)), 404, "not_found")


@pytest.mark.django_db
def test_it_requires_authentication(client, api, account):
    sent = post_json(api, SEND, SEED_FULL_BODY).json()
    assert_error(client.get(detail(sent["messageId"])), 401, "not_authenticated")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/onlyfans/messages/send", "/api/onlyfans/messages/batch"])
def test_it_does_not_mistake_the_other_routes_for_a_message_id(api, path):
    assert_error(api.get(path), 405, "method_not_allowed")

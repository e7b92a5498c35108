"""POST /api/crm/conversations/{id}/messages: sending to the fan through the pipeline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Message
from onlyfans import sqs
from onlyfans.models import MessageStatus, OutboundMessage
from tests.crm.factories import error_of, make_conversation, make_fan, send_json
from tests.support.clock import assert_within, measured

BODY = {
    "content": "Thanks for subscribing!",
    "mediaUrls": ["https://cdn.example.com/a.jpg"],
    "priority": 7,
}


@pytest.fixture
def fan(account):
    return make_fan(account, onlyfans_user_id="fan_123", username="anna")


@pytest.fixture
def conversation(fan):
    return make_conversation(fan)


def url(conversation) -> str:
    return f"/api/crm/conversations/{conversation.pk}/messages"


def thread(api, conversation) -> list[dict]:
    return api.get(url(conversation)).json()["results"]


@pytest.mark.django_db(transaction=True)
def test_it_sends_through_the_pipeline_and_shows_the_message_queued_in_the_thread(
    api, account, conversation, queues
):
    with measured() as sending:
        response = send_json(api, "post", url(conversation), BODY)

    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {
        "messageId",
        "status",
        "queuedAt",
        "estimatedSendTime",
        "message",
        "conversationId",
        "threadMessageId",
    }
    assert body["status"] == "queued"
    assert body["estimatedSendTime"].endswith("Z")
    outbound = OutboundMessage.objects.get(pk=body["messageId"])
    assert (outbound.account, outbound.recipient_id, outbound.content) == (
        account,
        "fan_123",
        BODY["content"],
    )
    assert (outbound.priority, outbound.media_urls, outbound.status) == (
        7,
        BODY["mediaUrls"],
        MessageStatus.QUEUED,
    )
    assert sqs.attributes().depth == 1

    with measured() as reading:
        [item] = thread(api, conversation)
    assert item["id"] == body["threadMessageId"]
    assert (item["direction"], item["status"], item["messageId"]) == (
        "outbound",
        "queued",
        body["messageId"],
    )
    # Live in the thread, by the same model as the 202's estimate: on an idle account the next
    # slot is the moment asked, for the 202 and for the read alike.
    assert_within(body["estimatedSendTime"], sending)
    assert_within(item["estimatedSendTime"], reading)
    assert (item["waitingFor"], item["nextAttemptAt"]) == ("rate_limit", None)
    inbox = api.get("/api/crm/conversations").json()["results"][0]
    assert (inbox["lastMessagePreview"], inbox["lastMessageDirection"]) == (
        "Thanks for subscribing!",
        "outbound",
    )


@pytest.mark.django_db(transaction=True)
def test_it_shows_pending_while_sqs_is_down_and_queued_once_the_relay_publishes(
    api, conversation, sqs_down, settings
):
    from onlyfans import services as pipeline
    from onlyfans.sqs import clear_caches

    response = send_json(api, "post", url(conversation), BODY)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    assert thread(api, conversation)[0]["status"] == "pending"

    # SQS answers again; the relay publishes what was left pending.
    from tests.settings import MOTO

    settings.SQS_ENDPOINT_URL = MOTO.url
    clear_caches()
    pipeline.sqs_circuit.reset()
    assert pipeline.messages_publish_pending(retry_delays=()).published == 1
    assert thread(api, conversation)[0]["status"] == "queued"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"recipientId": "fan_999", "content": "hi"}, "recipientId"),
        ({"content": "   "}, "content"),
        ({}, "content"),
        ({"content": 5}, "content"),
        ({"content": "hi", "mediaUrls": ["http://insecure.example.com/a.jpg"]}, "mediaUrls"),
        ({"content": "hi", "priority": 11}, "priority"),
        ({"content": "hi", "metadata": []}, "metadata"),
        ({"content": "x" * 5001}, "content"),
    ],
)
def test_it_validates_the_body_like_the_pipeline(api, conversation, body, field):
    error = error_of(send_json(api, "post", url(conversation), body), 400, "validation_error")
    assert field in error["details"], error
    assert not OutboundMessage.objects.exists()
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_replays_an_idempotency_key_instead_of_sending_twice(api, conversation, queues):
    first = send_json(api, "post", url(conversation), BODY, HTTP_IDEMPOTENCY_KEY="compose-42")
    again = send_json(api, "post", url(conversation), BODY, HTTP_IDEMPOTENCY_KEY="compose-42")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["messageId"] == first.json()["messageId"]
    assert again.json()["threadMessageId"] == first.json()["threadMessageId"]
    assert again["Idempotent-Replayed"] == "true"
    assert OutboundMessage.objects.count() == 1
    assert len(thread(api, conversation)) == 1

    other = send_json(
        api, "post", url(conversation), {"content": "different"}, HTTP_IDEMPOTENCY_KEY="compose-42"
    )
    error_of(other, 409, "idempotency_key_reused")
    error_of(
        send_json(api, "post", url(conversation), BODY, HTTP_IDEMPOTENCY_KEY=" "),
        400,
        "validation_error",
    )


def test_it_shares_the_users_send_limit_with_the_pipelines_send(
    api, account, conversation, settings
):
    settings.SEND_RATE_LIMIT = "2/m"
    settings.RATE_LIMITER_ENABLED = False  # cheap requests: the throttle answers before the service
    pipeline_send = send_json(
        api, "post", "/api/onlyfans/messages/send", {"recipientId": "fan_123", "content": "a"}
    )
    assert pipeline_send.status_code == 503
    assert send_json(api, "post", url(conversation), BODY).status_code == 503
    limited = send_json(api, "post", url(conversation), BODY)
    error_of(limited, 429, "rate_limited")
    assert int(limited["Retry-After"]) >= 1


def test_it_refuses_a_fan_whose_subscription_expired(api, fan, conversation):
    fan.subscription_status = "expired"
    fan.expires_at = timezone.now() - timedelta(days=3)
    fan.save()
    error = error_of(
        send_json(api, "post", url(conversation), BODY), 409, "fan_subscription_expired"
    )
    assert "@anna" in error["message"] and "expired" in error["message"]
    assert not OutboundMessage.objects.exists()
    assert not Message.objects.exists()


def test_it_refuses_a_fan_whose_subscription_lapsed_without_renewal(api, fan, conversation):
    fan.expires_at = timezone.now() - timedelta(hours=1)
    fan.auto_renew = False
    fan.save()
    error_of(send_json(api, "post", url(conversation), BODY), 409, "fan_subscription_expired")
    assert not OutboundMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_sends_to_an_auto_renewing_fan_past_the_expiry_date(api, fan, conversation, queues):
    fan.expires_at = timezone.now() - timedelta(hours=1)
    fan.auto_renew = True
    fan.save()
    assert send_json(api, "post", url(conversation), BODY).status_code == 202


def test_it_refuses_a_conversation_of_an_inactive_account(api, account, conversation):
    account.is_active = False
    account.save()
    error = error_of(send_json(api, "post", url(conversation), BODY), 409, "account_inactive")
    assert account.username in error["message"]
    assert not OutboundMessage.objects.exists()


def test_it_answers_503_when_the_rate_limiter_is_disabled(api, conversation, settings):
    settings.RATE_LIMITER_ENABLED = False
    error_of(send_json(api, "post", url(conversation), BODY), 503, "rate_limiter_disabled")
    assert not Message.objects.exists()

"""`scheduledAt` on POST /api/onlyfans/messages/send: a message not sent before its time, sent in
the account's first slot from then on; one due later than SQS can delay lives only in the
database until the relay wakes its account — against moto SQS, a real Redis and a real local
HTTP gateway."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from onlyfans import wakeups
from onlyfans.consumer import Consumer
from onlyfans.models import MessageStatus, OnlyFansAccount, OutboundMessage
from onlyfans.services import messages_publish_pending
from tests.support.delivery import consume, drain, on_queue, send

pytestmark = pytest.mark.django_db(transaction=True)

SEND = "/api/onlyfans/messages/send"
BODY = {"recipientId": "fan_123", "content": "Happy birthday! 🎂"}
SEED_FIELDS = {"messageId", "status", "queuedAt", "estimatedSendTime", "message"}


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def parse(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def post(client, body, **extra):
    return client.post(SEND, data=json.dumps(body), content_type="application/json", **extra)


# --- The API ------------------------------------------------------------------------------------
def test_it_accepts_a_scheduled_message_and_says_when(api, account, queues):
    at = (timezone.now() + timedelta(days=2)).replace(microsecond=0)

    response = post(api, {**BODY, "scheduledAt": iso(at)})

    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == SEED_FIELDS | {"scheduledAt"}
    assert parse(body["scheduledAt"]) == at
    assert body["status"] == MessageStatus.QUEUED
    assert parse(body["estimatedSendTime"]) >= at
    message = OutboundMessage.objects.get(pk=body["messageId"])
    assert (message.scheduled_at, message.next_attempt_at, message.wait_reason) == (
        at,
        at,
        "scheduled",
    )


def test_it_answers_the_seeds_shape_without_scheduled_at(api, account, queues):
    response = post(api, BODY)

    assert response.status_code == 202, response.content
    assert set(response.json()) == SEED_FIELDS
    assert OutboundMessage.objects.get().scheduled_at is None


def test_it_takes_an_offset_and_stores_the_instant(api, account, queues):
    response = post(api, {**BODY, "scheduledAt": iso_offset()})

    assert response.status_code == 202, response.content
    message = OutboundMessage.objects.get()
    assert message.scheduled_at == parse(response.json()["scheduledAt"])


def iso_offset() -> str:
    """Three hours ahead, written with a +02:00 offset."""
    from datetime import timezone as tz

    moment = (
        (timezone.now() + timedelta(hours=3))
        .astimezone(tz(timedelta(hours=2)))
        .replace(microsecond=0)
    )
    return moment.isoformat()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("tomorrow at noon", "ISO 8601"),
        ("2030-13-45T10:00:00Z", "ISO 8601"),
        (1767261600, "ISO 8601"),
        ("2030-01-01T10:00:00", "timezone"),
        ("past", "past"),
        ("far", "365 days"),
    ],
)
def test_it_refuses_a_bad_scheduled_at_in_the_error_shape(api, account, queues, value, words):
    if value == "past":
        value = iso(timezone.now() - timedelta(minutes=5))
    elif value == "far":
        value = iso(timezone.now() + timedelta(days=366))

    response = post(api, {**BODY, "scheduledAt": value})

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    [problem] = error["details"]["scheduledAt"]
    assert words in problem
    assert not OutboundMessage.objects.exists()


def test_a_time_just_past_is_sent_now(api, account, queues):
    """Up to 60 s in the past (a client's clock a little behind): accepted, due at once."""
    response = post(api, {**BODY, "scheduledAt": iso(timezone.now() - timedelta(seconds=20))})

    assert response.status_code == 202, response.content
    message = OutboundMessage.objects.get()
    assert message.scheduled_at is not None
    assert (message.next_attempt_at, message.wait_reason) == (None, "")
    assert on_queue() == 1  # the account's wake-up, due now


def test_the_detail_says_it_waits_for_its_time(api, account, queues):
    at = (timezone.now() + timedelta(hours=5)).replace(microsecond=0)
    message_id = post(api, {**BODY, "scheduledAt": iso(at)}).json()["messageId"]

    detail = api.get(f"/api/onlyfans/messages/{message_id}").json()

    assert parse(detail["scheduledAt"]) == at
    assert detail["waitingFor"] == "scheduled"
    assert parse(detail["nextAttemptAt"]) == at
    assert parse(detail["estimatedSendTime"]) >= at
    unscheduled = post(api, BODY).json()["messageId"]
    assert api.get(f"/api/onlyfans/messages/{unscheduled}").json()["scheduledAt"] is None


def test_a_scheduled_message_can_be_cancelled(api, account, queues):
    message_id = post(
        api, {**BODY, "scheduledAt": iso(timezone.now() + timedelta(days=30))}
    ).json()["messageId"]

    response = api.post(f"/api/onlyfans/messages/{message_id}/cancel")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == MessageStatus.CANCELLED
    assert response.json()["waitingFor"] is None
    # Its parked wake-up, once sent, finds nothing to do and is dropped.
    account.refresh_from_db()
    OnlyFansAccount.objects.filter(pk=account.pk).update(wake_at=timezone.now())
    assert messages_publish_pending(retry_delays=()).rearmed == 1
    consume()
    assert on_queue() == 0
    account.refresh_from_db()
    assert (account.wake_at, account.wake_token) == (None, None)


def test_idempotency_keys_cover_the_scheduled_time(api, account, queues):
    at = iso(timezone.now() + timedelta(days=1))
    first = post(api, {**BODY, "scheduledAt": at}, HTTP_IDEMPOTENCY_KEY="bday-1")
    again = post(api, {**BODY, "scheduledAt": at}, HTTP_IDEMPOTENCY_KEY="bday-1")
    other = post(
        api,
        {**BODY, "scheduledAt": iso(timezone.now() + timedelta(days=2))},
        HTTP_IDEMPOTENCY_KEY="bday-1",
    )

    assert (first.status_code, again.status_code) == (202, 202)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["messageId"] == first.json()["messageId"]
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert OutboundMessage.objects.count() == 1


def test_another_users_scheduled_message_is_not_found(api, outsider_api, account, queues):
    message_id = post(api, {**BODY, "scheduledAt": iso(timezone.now() + timedelta(days=1))}).json()[
        "messageId"
    ]

    assert outsider_api.get(f"/api/onlyfans/messages/{message_id}").status_code == 404
    assert outsider_api.post(f"/api/onlyfans/messages/{message_id}/cancel").status_code == 404
    assert OutboundMessage.objects.get().status == MessageStatus.QUEUED


# --- Delivery -----------------------------------------------------------------------------------
def test_it_is_not_sent_before_its_time_and_sent_in_the_first_slot_after(
    owner, fast_account, queues, gateway
):
    at = timezone.now() + timedelta(seconds=3)
    message = send(owner, fast_account, scheduled_at=at)

    consume()  # the account's wake-up arrives at once: nothing is due yet

    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    assert gateway.calls == []
    # Within one slot of its time: the account's wake-up is re-armed for that very moment (not a
    # poll later), and from then on the message is due like any other.
    fast_account.refresh_from_db()
    assert fast_account.wake_at == at
    drain(lambda: OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.SENT)
    message.refresh_from_db()
    assert message.sent_at >= at
    assert len(gateway.calls) == 1
    assert on_queue() == 0


def test_a_far_future_message_has_no_sqs_copy_until_due(owner, fast_account, queues, gateway):
    at = timezone.now() + timedelta(days=7)
    message = send(owner, fast_account, scheduled_at=at)

    assert message.status == MessageStatus.QUEUED
    assert on_queue() == 0
    fast_account.refresh_from_db()
    assert (fast_account.wake_at, fast_account.wake_token) == (at, None)
    # The relay leaves it parked while it is not coming due.
    assert messages_publish_pending(retry_delays=()).rearmed == 0
    assert on_queue() == 0

    # A week later (the rows moved to a second from now): the relay sends the wake-up, the
    # consumer holds it until the time and delivers.
    soon = timezone.now() + timedelta(seconds=1)
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=soon)
    OnlyFansAccount.objects.filter(pk=fast_account.pk).update(wake_at=soon)
    assert messages_publish_pending(retry_delays=()).rearmed == 1
    Consumer().run(seconds=4, wait_seconds=1)

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.sent_at >= soon
    assert on_queue() == 0


def test_after_a_delivery_a_far_future_wake_up_is_parked_not_resent(
    owner, fast_account, queues, gateway
):
    at = timezone.now() + timedelta(hours=2)
    later = send(owner, fast_account, scheduled_at=at)
    now = send(owner, fast_account)

    report = consume()

    assert report.sent == 1
    now.refresh_from_db()
    later.refresh_from_db()
    assert (now.status, later.status) == (MessageStatus.SENT, MessageStatus.QUEUED)
    assert on_queue() == 0
    fast_account.refresh_from_db()
    assert (fast_account.wake_at, fast_account.wake_token) == (at, None)


def test_a_consumer_start_up_leaves_parked_wake_ups_alone(owner, fast_account, queues):
    send(owner, fast_account, scheduled_at=timezone.now() + timedelta(days=3))

    assert wakeups.wakeups_rearm_all() == []
    assert on_queue() == 0

"""GET /api/onlyfans/messages/status: the seed's shape, 401, 503, health, and whose numbers.

Staff see SQS' own numbers; every other user sees their own messages, counted in the database.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

import boto3
import pytest
from django.utils import timezone

from onlyfans import limiter, sqs
from onlyfans.models import AttemptOutcome, DeliveryAttempt, MessageStatus, OutboundMessage
from tests.conftest import make_account
from tests.support.api import SEED_BODY, SEND, STATUS, assert_error, parse_iso, post_json
from tests.support.clock import assert_within, measured


def sqs_client(settings):
    return boto3.client(
        "sqs", endpoint_url=settings.SQS_ENDPOINT_URL, region_name=settings.AWS_REGION
    )


def add_waiting(account, n: int, *, status=MessageStatus.QUEUED) -> list[OutboundMessage]:
    return [
        OutboundMessage.objects.create(
            account=account,
            sender=account.owner,
            recipient_id=f"fan_{i}",
            content="hi",
            status=status,
        )
        for i in range(n)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("path", [STATUS, STATUS + "/"])
def test_it_answers_the_seeds_exact_shape(api, account, queues, path):
    with measured() as asking:
        response = api.get(path)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"queue", "processing", "health", "timestamp"}
    assert set(body["queue"]) == {"depth", "inFlight", "dlqCount", "total"}
    assert set(body["processing"]) == {"estimatedTimeSeconds", "rateLimit", "lastProcessedAt"}
    assert set(body["health"]) == {"status", "message"}
    assert body["queue"] == {"depth": 0, "inFlight": 0, "dlqCount": 0, "total": 0}
    assert body["processing"] == {
        "estimatedTimeSeconds": 0,
        "rateLimit": "10 messages/minute",
        "lastProcessedAt": None,
    }
    assert body["health"] == {"status": "healthy", "message": "All systems operational"}
    assert body["timestamp"].endswith("Z")
    assert_within(body["timestamp"], asking)


@pytest.mark.django_db(transaction=True)
def test_staff_see_the_wake_ups_on_the_queue(api, staff_api, owner, account, queues, settings):
    # One wake-up per OnlyFans account with something to send, however many messages it has.
    others = [make_account(owner), make_account(owner)]
    for target in [account, account, *others]:
        assert post_json(api, SEND, {**SEED_BODY, "accountId": target.pk}).status_code == 202
    # One of them is being delivered: received, hence invisible (in flight).
    sqs_client(settings).receive_message(QueueUrl=queues.main, MaxNumberOfMessages=1)
    body = staff_api.get(STATUS).json()
    assert body["queue"] == {"depth": 2, "inFlight": 1, "dlqCount": 0, "total": 3}
    assert body["health"]["status"] == "healthy"


@pytest.mark.django_db
def test_staff_see_delayed_copies_in_the_depth(staff_api, account, queues):
    add_waiting(account, 1)
    sqs.send_wakeups([(account.onlyfans_id, uuid.uuid4(), 60)])
    body = staff_api.get(STATUS).json()
    assert body["queue"]["depth"] == 1
    assert body["queue"]["total"] == 1


@pytest.mark.django_db
def test_it_estimates_the_time_to_drain_the_users_backlog(api, account, queues, settings):
    add_waiting(account, 47)
    body = api.get(STATUS).json()
    # 47 replies at 10 a window: ten per window the minimum gap apart, so the 47th goes out
    # 6 gaps into the fifth window (window and gap stretched by the guard).
    guard = 1 + settings.ONLYFANS_RATE_GUARD
    expected = 4 * 60 * guard + 6 * settings.ONLYFANS_MIN_GAP_SECONDS * guard
    assert expected <= body["processing"]["estimatedTimeSeconds"] <= expected + 1


@pytest.mark.django_db
def test_it_drains_accounts_in_parallel(api, owner, account, queues, settings):
    other = make_account(owner, rate_limit_per_minute=30)
    add_waiting(account, 10)
    add_waiting(other, 10)
    add_waiting(account, 5)
    body = api.get(STATUS).json()
    # The slowest account decides: 15 at 10 a window ≈ one window and 4 gaps (not 25 in series).
    guard = 1 + settings.ONLYFANS_RATE_GUARD
    expected = 60 * guard + 4 * settings.ONLYFANS_MIN_GAP_SECONDS * guard
    assert expected <= body["processing"]["estimatedTimeSeconds"] <= expected + 1
    assert body["processing"]["rateLimit"] == "10 messages/minute / 30 messages/minute"


@pytest.mark.django_db
def test_it_reads_every_accounts_backlog_in_a_constant_number_of_queries(
    api, owner, account, queues
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    add_waiting(account, 2)
    with CaptureQueriesContext(connection) as one_account:
        api.get(STATUS)
    for _ in range(10):
        add_waiting(make_account(owner), 2)
    with CaptureQueriesContext(connection) as eleven_accounts:
        body = api.get(STATUS).json()
    assert len(eleven_accounts) == len(one_account)
    assert 3 <= body["processing"]["estimatedTimeSeconds"] <= 4  # two replies: one gap apart


@pytest.mark.django_db(transaction=True)
def test_a_user_sees_their_own_messages_not_the_queues(
    api, outsider_api, staff_api, owner, account, queues, settings
):
    second = make_account(owner)
    for target in (account, account, second):  # two accounts: two wake-ups on SQS
        assert post_json(api, SEND, {**SEED_BODY, "accountId": target.pk}).status_code == 202
    OutboundMessage.objects.filter(pk=OutboundMessage.objects.first().pk).update(
        status=MessageStatus.SENDING
    )
    add_waiting(account, 2, status=MessageStatus.DEAD_LETTERED)
    add_waiting(account, 1, status=MessageStatus.PENDING)
    # The SQS-wide numbers include another tenant's copies and a stray DLQ message: not the user's.
    sqs_client(settings).send_message(QueueUrl=queues.dlq, MessageBody="{}")
    sqs_client(settings).receive_message(QueueUrl=queues.main, MaxNumberOfMessages=2)

    mine = api.get(STATUS).json()
    assert mine["queue"] == {"depth": 3, "inFlight": 1, "dlqCount": 2, "total": 4}
    assert mine["health"]["status"] == "degraded"
    assert "2 message(s) in the dead-letter queue" in mine["health"]["message"]
    assert "1 message(s) waiting to be published" in mine["health"]["message"]
    assert mine["processing"]["estimatedTimeSeconds"] > 0

    theirs = outsider_api.get(STATUS).json()
    assert theirs["queue"] == {"depth": 0, "inFlight": 0, "dlqCount": 0, "total": 0}
    assert theirs["processing"]["estimatedTimeSeconds"] == 0
    assert theirs["processing"]["lastProcessedAt"] is None
    assert theirs["health"] == {"status": "healthy", "message": "All systems operational"}

    staff = staff_api.get(STATUS).json()["queue"]
    assert (staff["dlqCount"], staff["inFlight"]) == (1, 2)


@pytest.mark.django_db
def test_it_ignores_other_users_backlogs_and_attempts(api, account, outsider, queues):
    theirs = make_account(outsider)
    [message] = add_waiting(theirs, 30)[:1]
    DeliveryAttempt.objects.create(message=message, number=1, outcome=AttemptOutcome.SENT)
    body = api.get(STATUS).json()
    assert body["processing"]["estimatedTimeSeconds"] == 0
    assert body["processing"]["lastProcessedAt"] is None


@pytest.mark.django_db
def test_it_reports_the_last_delivery_attempt(api, account, queues):
    [message] = add_waiting(account, 1, status=MessageStatus.SENT)
    when = timezone.now() - timedelta(minutes=3)
    DeliveryAttempt.objects.create(
        message=message, number=1, outcome=AttemptOutcome.SENT, attempted_at=when
    )
    body = api.get(STATUS).json()
    assert parse_iso(body["processing"]["lastProcessedAt"]) == when.replace(
        microsecond=when.microsecond // 1000 * 1000
    )


@pytest.mark.django_db
def test_staff_see_degraded_when_the_dlq_holds_a_message(staff_api, account, queues, settings):
    sqs_client(settings).send_message(QueueUrl=queues.dlq, MessageBody="{}")
    body = staff_api.get(STATUS).json()
    assert body["queue"]["dlqCount"] == 1
    assert body["health"]["status"] == "degraded"
    assert "dead-letter" in body["health"]["message"]


@pytest.mark.django_db
def test_it_is_degraded_when_redis_is_unreachable(api, account, queues, redis_down):
    response = api.get(STATUS)
    assert response.status_code == 200, response.content
    health = response.json()["health"]
    assert health["status"] == "degraded"
    assert "Redis" in health["message"]


@pytest.mark.django_db
def test_it_is_degraded_while_messages_wait_for_sqs(api, account, queues):
    add_waiting(account, 2, status=MessageStatus.PENDING)
    health = api.get(STATUS).json()["health"]
    assert health["status"] == "degraded"
    assert "2 message(s) waiting to be published" in health["message"]


@pytest.mark.django_db
def test_it_answers_503_when_sqs_is_unreachable(api, account, sqs_down):
    error = assert_error(api.get(STATUS), 503, "queue_unavailable")
    assert "queue" in error["message"].lower()


@pytest.mark.django_db
def test_it_answers_503_when_the_queue_does_not_exist(api, account, settings):
    settings.SQS_RATE_LIMITER_QUEUE_URL = None
    settings.SQS_RATE_LIMITER_DLQ_URL = None
    settings.SQS_QUEUE_NAME = "no-such-queue-anywhere"
    sqs.clear_caches()
    assert_error(api.get(STATUS), 503, "queue_unavailable")


@pytest.mark.django_db
def test_it_finds_the_queues_by_name_when_no_url_is_set(staff_api, account, queues, settings):
    settings.SQS_QUEUE_NAME = queues.main.rsplit("/", 1)[1]
    settings.SQS_DLQ_NAME = queues.dlq.rsplit("/", 1)[1]
    settings.SQS_RATE_LIMITER_QUEUE_URL = None
    settings.SQS_RATE_LIMITER_DLQ_URL = None
    sqs.clear_caches()
    sqs_client(settings).send_message(QueueUrl=queues.dlq, MessageBody="{}")
    assert staff_api.get(STATUS).json()["queue"]["dlqCount"] == 1


@pytest.mark.django_db
def test_it_requires_authentication(client, queues):
    assert_error(client.get(STATUS), 401, "not_authenticated")


@pytest.mark.django_db
def test_it_refuses_post(api, queues):
    assert_error(api.post(STATUS), 405, "method_not_allowed")


@pytest.mark.django_db
def test_it_logs_the_seeds_queue_status_event(api, account, queues, caplog):
    caplog.set_level(logging.INFO)
    api.get(STATUS)
    records = [r for r in caplog.records if r.getMessage().startswith("OnlyFans queue status: ")]
    assert records, [r.getMessage() for r in caplog.records]
    assert records[0].health == "healthy"
    assert json.dumps(records[0].depth) == "0"


@pytest.mark.django_db
def test_it_does_not_take_slots_from_the_bucket(api, account, queues):
    api.get(STATUS)
    decision = limiter.take(
        account.onlyfans_id, limit=account.effective_rate_limit, lane="interactive"
    )
    assert decision.granted


@pytest.mark.django_db
def test_it_logs_an_unreachable_queue_under_the_seeds_event(api, account, sqs_down, caplog):
    api.get(STATUS)
    [record] = [r for r in caplog.records if r.getMessage().startswith("OnlyFans queue status: ")]
    assert (record.status, record.code) == (503, "queue_unavailable")

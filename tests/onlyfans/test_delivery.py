"""The delivery half: consumer, gateway outcomes, retries, DLQ — against moto SQS, a real Redis
and a real local HTTP gateway."""

from __future__ import annotations

import pytest

from onlyfans import bucket, queue
from onlyfans.consumer import Consumer
from onlyfans.models import AttemptOutcome, MessageStatus, OutboundMessage
from onlyfans.services import MessageInput, message_send
from tests.conftest import make_account

pytestmark = pytest.mark.django_db(transaction=True)


def send(owner, account, content="Hello! Thanks for subscribing", **kwargs) -> OutboundMessage:
    outcome = message_send(
        user=owner, account=account, data=MessageInput(recipient_id="fan_123", content=content, **kwargs)
    )
    return OutboundMessage.objects.get(pk=outcome.message.pk)


def consume(**kwargs):
    kwargs.setdefault("once", True)
    kwargs.setdefault("wait_seconds", 1)
    return Consumer().run(**kwargs)


def queue_counts():
    return queue.attributes()


@pytest.fixture
def fast_account(owner):
    """600 messages a minute: slots a tenth of a second apart, waited out in-process."""
    return make_account(owner, rate_limit_per_minute=600)


def test_it_delivers_a_queued_message_once_with_its_idempotency_key(owner, account, queues, gateway, settings):
    message = send(owner, account, media_urls=["https://cdn.example.com/a.jpg"])
    assert message.status == MessageStatus.QUEUED

    report = consume()

    message.refresh_from_db()
    assert report.sent == 1
    assert message.status == MessageStatus.SENT
    assert message.upstream_id == gateway.accepted[str(message.pk)]
    assert message.attempt_count == 1
    [attempt] = message.attempts.all()
    assert (attempt.outcome, attempt.http_status) == (AttemptOutcome.SENT, 200)
    [call] = gateway.calls
    assert call.idempotency_key == str(message.pk)
    assert call.authorization == f"Bearer {settings.ONLYFANS_API_KEY}"
    assert (call.account, call.recipient) == (account.onlyfans_id, "fan_123")
    assert call.body == {"text": "Hello! Thanks for subscribing", "mediaFiles": ["https://cdn.example.com/a.jpg"]}
    attrs = queue_counts()
    assert attrs.depth + attrs.in_flight + attrs.delayed == 0


def test_it_fails_at_once_on_a_permanent_gateway_error(owner, account, queues, gateway):
    gateway.respond_next(400)
    message = send(owner, account)

    report = consume()

    message.refresh_from_db()
    assert report.failed == 1
    assert message.status == MessageStatus.FAILED
    assert "Recipient is not subscribed" in message.last_error
    assert message.attempts.get().http_status == 400
    attrs = queue_counts()
    assert attrs.depth + attrs.in_flight + attrs.delayed + attrs.dlq_count == 0


@pytest.mark.parametrize("status", [500, 503, 408])
def test_it_retries_transient_errors_with_backoff(owner, account, queues, gateway, status):
    gateway.respond_next(status)
    message = send(owner, account)

    report = consume()

    message.refresh_from_db()
    assert report.retried == 1
    assert message.status == MessageStatus.QUEUED
    assert message.attempt_count == 1
    assert message.attempts.get().outcome == AttemptOutcome.RETRY
    assert message.next_attempt_at > message.attempts.get().attempted_at
    assert queue_counts().delayed + queue_counts().depth == 1  # a fresh, delayed copy


def test_it_retries_a_timeout(owner, account, queues, gateway, settings):
    settings.ONLYFANS_READ_TIMEOUT = 0.2
    gateway.respond_next(200, delay=1.0)
    message = send(owner, account)

    consume()

    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    attempt = message.attempts.get()
    assert attempt.outcome == AttemptOutcome.RETRY
    assert attempt.http_status is None
    assert "timeout" in attempt.error.lower()


def test_it_honours_retry_after_and_pushes_the_accounts_bucket(owner, account, queues, gateway):
    gateway.respond_next(429, {"Retry-After": "30"})
    message = send(owner, account)

    consume()

    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    attempt = message.attempts.get()
    assert (attempt.outcome, attempt.http_status) == (AttemptOutcome.RETRY, 429)
    assert 29 <= (message.next_attempt_at - attempt.attempted_at).total_seconds() <= 31
    # No slot for this account until the gateway's Retry-After has passed.
    assert bucket.peek(account.onlyfans_id, limit=account.effective_rate_limit).wait_seconds > 25


def test_it_dead_letters_after_the_configured_attempts(owner, fast_account, queues, gateway, settings):
    settings.ONLYFANS_MAX_ATTEMPTS = 3
    settings.ONLYFANS_RETRY_BASE_SECONDS = 0
    gateway.respond_next(500, times=10)
    message = send(owner, fast_account)

    for _ in range(3):
        consume(wait_seconds=2)

    message.refresh_from_db()
    assert message.status == MessageStatus.DEAD_LETTERED
    assert message.attempt_count == 3
    assert [a.outcome for a in message.attempts.all()] == ["retry", "retry", "dead_lettered"]
    assert len(gateway.calls) == 3
    attrs = queue_counts()
    assert attrs.dlq_count == 1
    assert attrs.depth + attrs.in_flight + attrs.delayed == 0


def test_it_defers_without_an_attempt_when_the_account_has_no_slot(owner, account, queues, gateway, settings):
    settings.ONLYFANS_INLINE_WAIT_SECONDS = 0
    bucket.take(account.onlyfans_id, limit=account.effective_rate_limit)  # the slot is gone
    message = send(owner, account)

    report = consume()

    message.refresh_from_db()
    assert report.deferred == 1
    assert gateway.calls == []
    assert message.status == MessageStatus.QUEUED
    assert message.attempt_count == 0
    assert not message.attempts.exists()
    assert queue_counts().delayed == 1


def test_it_defers_more_often_than_max_receive_count_and_still_delivers(
    owner, fast_account, gateway, settings, monkeypatch
):
    """Waiting is not failing: each deferral is a fresh copy, so SQS's receive count never
    reaches maxReceiveCount and the redrive policy never dead-letters a healthy message."""
    import uuid as _uuid

    settings.SQS_MAX_RECEIVE_COUNT = 2
    settings.ONLYFANS_INLINE_WAIT_SECONDS = 0
    main, dlq = queue.create_queues(queue_name=f"q-{_uuid.uuid4().hex[:8]}", dlq_name=f"d-{_uuid.uuid4().hex[:8]}")
    settings.SQS_RATE_LIMITER_QUEUE_URL, settings.SQS_RATE_LIMITER_DLQ_URL = main, dlq
    queue.clear_caches()
    # A busy account: the bucket has no slot for the first five asks (twice maxReceiveCount + 1).
    real_take, denied = bucket.take, []

    def busy_take(onlyfans_id, *, limit):
        if len(denied) < 5:
            seen = bucket.peek(onlyfans_id, limit=limit)  # denied without taking the slot
            denied.append(seen)
            return bucket.SlotDecision(False, 0.2, seen.server_now, seen.next_free_at)
        return real_take(onlyfans_id, limit=limit)

    monkeypatch.setattr(bucket, "take", busy_take)
    message = send(owner, fast_account)

    report = Consumer().run(wait_seconds=2, seconds=30, max_messages=6)

    message.refresh_from_db()
    assert report.deferred == 5
    assert report.sent == 1
    assert message.status == MessageStatus.SENT
    assert message.attempt_count == 1
    assert queue_counts().dlq_count == 0


def test_it_sends_a_message_duplicated_on_sqs_only_once(owner, account, queues, gateway):
    message = send(owner, account)
    queue.publish([(str(message.pk), account.pk)])  # SQS delivered it twice

    report = consume()
    report2 = consume()

    message.refresh_from_db()
    assert report.sent + report2.sent == 1
    assert report.skipped + report2.skipped == 1
    assert len(gateway.calls) == 1
    assert message.status == MessageStatus.SENT
    attrs = queue_counts()
    assert attrs.depth + attrs.in_flight + attrs.delayed == 0


def test_it_recovers_a_consumer_that_died_between_gateway_and_database(
    owner, account, gateway, settings, monkeypatch
):
    """The gateway accepted the call, the consumer died before recording it: after the lease the
    message is claimed again, called with the same Idempotency-Key, and accepted once."""
    import uuid as _uuid

    from onlyfans import delivery

    settings.SQS_VISIBILITY_TIMEOUT = 1
    settings.ONLYFANS_CLAIM_LEASE_SECONDS = 1
    main, dlq = queue.create_queues(queue_name=f"q-{_uuid.uuid4().hex[:8]}", dlq_name=f"d-{_uuid.uuid4().hex[:8]}")
    settings.SQS_RATE_LIMITER_QUEUE_URL, settings.SQS_RATE_LIMITER_DLQ_URL = main, dlq
    queue.clear_caches()
    account.rate_limit_per_minute = 600
    account.save()
    message = send(owner, account)

    real_record = delivery.record_attempt

    def die(*args, **kwargs):
        raise KeyboardInterrupt("consumer killed")

    monkeypatch.setattr(delivery, "record_attempt", die)
    with pytest.raises(KeyboardInterrupt):
        consume()
    message.refresh_from_db()
    assert message.status == MessageStatus.SENDING
    assert len(gateway.calls) == 1

    monkeypatch.setattr(delivery, "record_attempt", real_record)
    report = consume(wait_seconds=5)

    message.refresh_from_db()
    assert report.sent == 1
    assert message.status == MessageStatus.SENT
    assert len(gateway.calls) == 2
    assert {call.idempotency_key for call in gateway.calls} == {str(message.pk)}
    assert len(gateway.accepted) == 1
    assert message.upstream_id == gateway.accepted[str(message.pk)]


def test_it_skips_a_cancelled_message(owner, account, queues, gateway):
    from django.core.management import call_command

    message = send(owner, account)
    call_command("cancel_message", str(message.pk))

    report = consume()

    message.refresh_from_db()
    assert message.status == MessageStatus.CANCELLED
    assert report.skipped == 1
    assert gateway.calls == []
    attrs = queue_counts()
    assert attrs.depth + attrs.in_flight == 0


def test_it_delivers_nothing_while_redis_is_down(owner, account, queues, gateway, settings):
    from tests.support.servers import free_port

    message = send(owner, account)
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }

    report = consume()

    message.refresh_from_db()
    assert report.deferred == 1
    assert gateway.calls == []
    assert message.status == MessageStatus.QUEUED
    assert message.attempt_count == 0


def test_it_finishes_in_flight_work_and_releases_the_rest_when_stopped(owner, fast_account, queues, gateway):
    messages = [send(owner, fast_account, content=f"m{i}") for i in range(5)]
    consumer = Consumer()
    gateway.on_call = lambda fake: consumer.stop.set()  # SIGTERM arrives during the first call

    report = consumer.run(once=True, wait_seconds=1, max_messages=5)

    assert report.sent == 1
    assert report.released == 4
    statuses = sorted(OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).values_list("status", flat=True))
    assert statuses == ["queued"] * 4 + ["sent"]
    report = Consumer().run(max_messages=4, wait_seconds=1, seconds=10)
    assert OutboundMessage.objects.filter(status=MessageStatus.SENT).count() == 5
    assert len(gateway.accepted) == 5


def test_it_keeps_the_spacing_when_redis_loses_its_data(owner, account, queues, gateway, settings):
    """A Redis restart or failover forgets every bucket; the database still knows when the
    account last called the gateway, so the next call waits for its slot all the same."""
    from django_redis import get_redis_connection

    settings.ONLYFANS_INLINE_WAIT_SECONDS = 0
    first = send(owner, account, content="first")
    assert consume().sent == 1
    get_redis_connection("default").flushdb()  # Redis restarted without persistence
    second = send(owner, account, content="second")

    report = consume()

    assert report.deferred == 1
    assert [call.idempotency_key for call in gateway.calls] == [str(first.pk)]
    second.refresh_from_db()
    assert (second.status, second.attempt_count) == (MessageStatus.QUEUED, 0)
    assert bucket.peek(account.onlyfans_id, limit=10).wait_seconds > 5


def test_it_applies_the_strictest_limit_of_users_sharing_an_onlyfans_account(owner, outsider, account):
    from onlyfans.delivery import account_pace

    account.rate_limit_per_minute = 30
    account.save()
    make_account(outsider, onlyfans_id=account.onlyfans_id, rate_limit_per_minute=12)

    assert account_pace(account.onlyfans_id).limit == 12

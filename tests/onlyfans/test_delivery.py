"""The delivery half: wake-ups, the per-account dispatcher, gateway outcomes, retries, the DLQ —
against moto SQS, a real Redis and a real local HTTP gateway."""

from __future__ import annotations

import threading
import time
from email.utils import format_datetime

import pytest
from django.utils import timezone

from onlyfans import limiter, pacing, scheduler, sqs, wakeups
from onlyfans.consumer import Consumer
from onlyfans.models import AttemptOutcome, MessageStatus, OutboundMessage
from onlyfans.services import messages_publish_pending
from tests.conftest import make_account
from tests.support.clock import Span, assert_within, measured
from tests.support.delivery import consume, drain, on_queue, send

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_delivers_a_queued_message_once_with_its_idempotency_key(
    owner, account, queues, gateway, settings
):
    message = send(owner, account, media_urls=["https://cdn.example.com/a.jpg"])
    assert message.status == MessageStatus.QUEUED

    report = consume()

    message.refresh_from_db()
    assert (report.received, report.sent) == (1, 1)
    assert message.status == MessageStatus.SENT
    assert message.upstream_id == gateway.accepted[str(message.pk)]
    assert message.attempt_count == 1
    [attempt] = message.attempts.all()
    assert (attempt.outcome, attempt.http_status) == (AttemptOutcome.SENT, 200)
    [call] = gateway.calls
    assert call.idempotency_key == str(message.pk)
    assert call.authorization == f"Bearer {settings.ONLYFANS_API_KEY}"
    assert (call.account, call.recipient) == (account.onlyfans_id, "fan_123")
    assert call.body == {
        "text": "Hello! Thanks for subscribing",
        "mediaFiles": ["https://cdn.example.com/a.jpg"],
    }
    # Nothing left to do for the account: its wake-up is gone, and the account says so.
    assert on_queue() == 0
    account.refresh_from_db()
    assert (account.wake_at, account.wake_token) == (None, None)


def test_it_fails_at_once_on_a_permanent_gateway_error(owner, account, queues, gateway):
    gateway.respond_next(400)
    message = send(owner, account)

    report = consume()

    message.refresh_from_db()
    assert report.failed == 1
    assert message.status == MessageStatus.FAILED
    assert "Recipient is not subscribed" in message.last_error
    assert on_queue() == 0


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_it_retries_transient_errors_with_backoff(owner, account, queues, gateway, status):
    gateway.respond_next(status)
    message = send(owner, account)

    report = consume()

    message.refresh_from_db()
    assert report.retried == 1
    assert (message.status, message.attempt_count, message.wait_reason) == (
        MessageStatus.QUEUED,
        1,
        "retry_backoff",
    )
    assert message.next_attempt_at > timezone.now()
    assert message.attempts.get().outcome == AttemptOutcome.RETRY
    # The account's wake-up waits for the back-off (a fresh copy with a delay).
    assert sqs.attributes().delayed == 1


def test_it_retries_a_timeout(owner, account, queues, gateway, settings):
    settings.ONLYFANS_READ_TIMEOUT = 0.2
    gateway.respond_next(200, delay=1)
    message = send(owner, account)

    consume()

    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    attempt = message.attempts.get()
    assert (attempt.outcome, attempt.http_status) == (AttemptOutcome.RETRY, None)
    assert "timeout" in attempt.error.lower()


@pytest.mark.parametrize("header", ["seconds", "http-date"])
def test_a_429_is_waiting_not_failing(owner, account, queues, gateway, header):
    """The gateway's Retry-After (seconds or an HTTP date) pushes the account back and defers the
    message: a visible attempt `rate_limited` that does not count towards the attempts."""
    from datetime import timedelta

    # An HTTP date has whole seconds.
    retry_at = (timezone.now() + timedelta(seconds=31)).replace(microsecond=0)
    value = "30" if header == "seconds" else format_datetime(retry_at, usegmt=True)
    gateway.respond_next(429, {"Retry-After": value})
    message = send(owner, account)

    with measured() as consuming:
        report = consume()

    message.refresh_from_db()
    assert (report.deferred, report.retried, report.failed) == (1, 0, 0)
    assert (message.status, message.attempt_count) == (MessageStatus.QUEUED, 0)
    attempt = message.attempts.get()
    assert (attempt.outcome, attempt.http_status) == (AttemptOutcome.RATE_LIMITED, 429)
    # When the gateway said: 30 s after it answered, or its date (read as seconds from the moment
    # it was read, added to the moment the attempt was recorded: later by at most the pass).
    if header == "seconds":
        assert_within(message.next_attempt_at, consuming, plus=30)
    else:
        pass_took = consuming.end - consuming.start
        assert_within(message.next_attempt_at, Span(retry_at, retry_at + pass_took))
    schedule = pacing.message_schedule(message)
    assert schedule.waiting_for == "gateway_rate_limited"
    assert schedule.next_attempt_at == message.next_attempt_at
    # No call for this account until the gateway's Retry-After has passed.
    decision = limiter.peek(account.onlyfans_id, limit=account.effective_rate_limit)
    assert decision.wait_seconds("interactive") > 25


def test_a_429_past_its_time_budget_counts_as_an_attempt(owner, account, queues, gateway, settings):
    settings.ONLYFANS_RATE_LIMITED_BUDGET_SECONDS = 0
    message = send(owner, account)
    OutboundMessage.objects.filter(pk=message.pk).update(
        rate_limited_since=timezone.now() - timezone.timedelta(hours=2)
    )
    gateway.respond_next(429, {"Retry-After": "5"})

    consume()

    message.refresh_from_db()
    assert message.attempt_count == 1
    assert message.attempts.get().outcome == AttemptOutcome.RETRY


def test_a_409_idempotency_key_in_use_is_a_deferral(owner, account, queues, gateway):
    gateway.respond_next(409, body={"error": "Idempotency key in use by a request in progress"})
    message = send(owner, account)

    report = consume()

    message.refresh_from_db()
    assert (report.deferred, report.failed) == (1, 0)
    assert (message.status, message.attempt_count) == (MessageStatus.QUEUED, 0)
    assert message.attempts.get().outcome == AttemptOutcome.DEFERRED
    assert message.next_attempt_at > timezone.now()


def test_another_409_is_a_permanent_failure(owner, account, queues, gateway):
    gateway.respond_next(409, body={"error": "Chat is closed"})
    message = send(owner, account)

    consume()

    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED


def test_it_dead_letters_after_the_configured_attempts(
    owner, fast_account, queues, gateway, settings
):
    settings.ONLYFANS_MAX_ATTEMPTS = 3
    settings.ONLYFANS_RETRY_BASE_SECONDS = 0
    gateway.respond_next(500, times=10)
    message = send(owner, fast_account)

    drain(lambda: OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.DEAD_LETTERED)

    message.refresh_from_db()
    assert message.attempt_count == 3
    assert [a.outcome for a in message.attempts.all()] == ["retry", "retry", "dead_lettered"]
    assert len(gateway.calls) == 3
    attrs = sqs.attributes()
    assert attrs.dlq_count == 1
    assert attrs.depth + attrs.in_flight + attrs.delayed == 0


def test_it_defers_without_an_attempt_when_the_account_has_no_slot(owner, account, queues, gateway):
    message = send(owner, account)
    limiter.take(
        account.onlyfans_id, limit=account.effective_rate_limit, lane="interactive"
    )  # another host took it

    report = consume()

    message.refresh_from_db()
    assert report.deferred == 1
    assert gateway.calls == []
    assert (message.status, message.attempt_count) == (MessageStatus.QUEUED, 0)
    assert not message.attempts.exists()
    assert pacing.message_schedule(message).waiting_for == "rate_limit"
    # The wake-up goes back to SQS due at the account's next slot, as a fresh copy.
    assert sqs.attributes().delayed == 1


def test_one_wake_up_carries_a_whole_backlog(owner, fast_account, queues, gateway):
    """Waiting is not failing: the consumer holds the account's one wake-up between slots, so
    it is received once (never walked towards maxReceiveCount) for the whole backlog."""
    for i in range(6):
        send(owner, fast_account, content=f"m{i}")

    report = Consumer().run(seconds=4, wait_seconds=1)

    assert report.sent == 6
    assert report.received == 1
    assert sqs.attributes().dlq_count == 0
    assert on_queue() == 0


def test_it_delivers_in_lane_order_the_exact_next_message(owner, fast_account, queues, gateway):
    """Interactive before bulk, then priority 10 → 1, then acceptance order: whatever order the
    messages were accepted in, that is the order of the gateway calls."""
    bulk = [send(owner, fast_account, content=f"bulk {i}", lane="bulk") for i in range(3)]
    low = send(owner, fast_account, content="reply p3", priority=3)
    high = send(owner, fast_account, content="reply p10", priority=10)
    later_high = send(owner, fast_account, content="reply p10 later", priority=10)

    drain(lambda: OutboundMessage.objects.filter(status=MessageStatus.SENT).count() == 6)

    order = [call.idempotency_key for call in gateway.calls]
    assert order == [str(m.pk) for m in (high, later_high, low, *bulk)]


def test_an_idle_accounts_message_does_not_wait_behind_another_accounts_backlog(
    owner, queues, gateway, settings
):
    settings.ONLYFANS_MIN_GAP_SECONDS = 3
    busy, idle = make_account(owner), make_account(owner)
    for i in range(5):
        send(owner, busy, content=f"b{i}")
    reply = send(owner, idle, content="hello")

    Consumer().run(seconds=3, wait_seconds=1)

    reply.refresh_from_db()
    assert reply.status == MessageStatus.SENT
    assert OutboundMessage.objects.filter(account=busy, status=MessageStatus.SENT).count() == 1


def test_it_sends_each_message_once_when_wake_ups_are_duplicated(
    owner, fast_account, queues, gateway
):
    messages = [send(owner, fast_account, content=f"m{i}") for i in range(3)]
    sqs.send_wakeups(
        [(fast_account.onlyfans_id, wakeups.wake_rearm(fast_account.onlyfans_id), 0)] * 2
    )

    drain(
        lambda: OutboundMessage.objects.filter(status=MessageStatus.SENT).count() == 3,
        concurrency=3,
    )

    assert len(gateway.calls) == 3
    assert {c.idempotency_key for c in gateway.calls} == {str(m.pk) for m in messages}
    # The spare copies are dropped when they come round; none delivers anything.
    drain(lambda: on_queue() == 0, timeout=20)
    assert len(gateway.calls) == 3


def test_it_recovers_a_consumer_that_died_between_gateway_and_database(
    owner, fast_account, gateway, settings, monkeypatch
):
    """The gateway accepted the call, the consumer died before recording it: after the lease the
    message is claimed again, called with the same Idempotency-Key, and accepted once."""
    import uuid as _uuid

    from onlyfans import delivery

    settings.SQS_VISIBILITY_TIMEOUT = 1
    settings.ONLYFANS_CLAIM_LEASE_SECONDS = 1
    main, dlq = sqs.create_queues(
        queue_name=f"q-{_uuid.uuid4().hex[:8]}", dlq_name=f"d-{_uuid.uuid4().hex[:8]}"
    )
    settings.SQS_RATE_LIMITER_QUEUE_URL, settings.SQS_RATE_LIMITER_DLQ_URL = main, dlq
    sqs.clear_caches()
    message = send(owner, fast_account)
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
    time.sleep(1.2)
    drain(lambda: OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.SENT)

    message.refresh_from_db()
    assert len(gateway.calls) == 2
    assert {call.idempotency_key for call in gateway.calls} == {str(message.pk)}
    assert len(gateway.accepted) == 1
    assert message.upstream_id == gateway.accepted[str(message.pk)]


def test_it_skips_a_cancelled_message(owner, account, queues, gateway):
    from django.core.management import call_command

    message = send(owner, account)
    call_command("cancel_message", str(message.pk))

    consume()

    message.refresh_from_db()
    assert message.status == MessageStatus.CANCELLED
    assert gateway.calls == []
    assert on_queue() == 0


def test_it_delivers_nothing_while_redis_is_down(owner, account, queues, gateway, settings, caplog):
    from tests.support.servers import free_port

    message = send(owner, account)
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }

    with caplog.at_level("WARNING", logger="onlyfans"):
        report = consume()

    message.refresh_from_db()
    assert report.deferred == 1
    assert gateway.calls == []
    assert (message.status, message.attempt_count) == (MessageStatus.QUEUED, 0)
    assert message.wait_reason == "redis_unavailable"
    # The log names the account by its OnlyFans id under onlyfansId; accountId is always the pk.
    [record] = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert record.onlyfansId == account.onlyfans_id
    assert not hasattr(record, "accountId")


def test_it_finishes_in_flight_work_and_hands_the_account_back_when_stopped(
    owner, fast_account, queues, gateway
):
    messages = [send(owner, fast_account, content=f"m{i}") for i in range(5)]
    consumer = Consumer()
    gateway.on_call = lambda fake: consumer.stop.set()  # SIGTERM arrives during the first call

    report = consumer.run(wait_seconds=1, seconds=10)

    assert report.sent == 1
    statuses = sorted(
        OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).values_list(
            "status", flat=True
        )
    )
    assert statuses == ["queued"] * 4 + ["sent"]
    gateway.on_call = None
    drain(lambda: OutboundMessage.objects.filter(status=MessageStatus.SENT).count() == 5)
    assert len(gateway.accepted) == 5


def test_it_keeps_the_spacing_when_redis_loses_its_data(owner, account, queues, gateway):
    """A Redis restart or failover forgets every account's calls; the database still knows when
    the account last called the gateway, so the next call waits out a window from that one."""
    from django_redis import get_redis_connection

    first = send(owner, account, content="first")
    assert consume().sent == 1
    get_redis_connection("default").flushdb()  # Redis restarted without persistence
    second = send(owner, account, content="second")

    report = consume()

    assert report.deferred == 1
    assert [call.idempotency_key for call in gateway.calls] == [str(first.pk)]
    second.refresh_from_db()
    assert (second.status, second.attempt_count) == (MessageStatus.QUEUED, 0)
    assert limiter.peek(account.onlyfans_id, limit=10).wait_seconds("interactive") > 50


def test_it_applies_the_strictest_limit_of_users_sharing_an_onlyfans_account(
    owner, outsider, account
):
    account.rate_limit_per_minute = 30
    account.save()
    make_account(outsider, onlyfans_id=account.onlyfans_id, rate_limit_per_minute=12)

    assert pacing.account_pace(account.onlyfans_id).limit == 12


def test_a_purged_queue_delays_no_message_beyond_the_relay(
    owner, fast_account, queues, gateway, settings
):
    """SQS lost its contents (purged, or the local SQS restarted): the relay gives the account a
    new wake-up once the old one is overdue by the grace."""
    settings.ONLYFANS_WAKE_GRACE_SECONDS = 0.2
    message = send(owner, fast_account)
    sqs.sqs().purge_queue(QueueUrl=queues.main)
    time.sleep(0.3)

    report = messages_publish_pending(retry_delays=())

    assert report.rearmed == 1
    drain(
        lambda: OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.SENT, timeout=15
    )


def test_a_consumer_rearms_every_waiting_account_when_it_starts(
    owner, fast_account, queues, gateway
):
    message = send(owner, fast_account)
    sqs.sqs().purge_queue(QueueUrl=queues.main)

    Consumer(rearm=True).run(seconds=3, wait_seconds=1)

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


def test_a_first_version_copy_wakes_its_messages_account(owner, account, queues, gateway):
    """A body from before wake-ups (`{"messageId", "accountId"}`) wakes the message's account; one
    whose messageId is no UUID wakes nothing and is not an error."""
    message = send(owner, account)
    sqs.sqs().purge_queue(QueueUrl=queues.main)
    for body in (sqs.encode_body("not-a-uuid", account.pk), sqs.encode_body(str(message.pk), 0)):
        sqs.sqs().send_message(QueueUrl=queues.main, MessageBody=body)

    drain(
        lambda: OutboundMessage.objects.get(pk=message.pk).status == MessageStatus.SENT, timeout=15
    )
    assert len(gateway.calls) == 1


def test_a_reply_accepted_behind_500_bulk_messages_is_the_next_delivery(
    owner, fast_account, queues, gateway
):
    """The exact next message: while a mass send drains, a priority-10 reply accepted behind 500
    bulk messages is the very next gateway call on its account."""
    import threading

    OutboundMessage.objects.bulk_create(
        OutboundMessage(
            account=fast_account,
            recipient_id=f"fan_{i}",
            content="promo",
            lane="bulk",
            status="queued",
        )
        for i in range(500)
    )
    send(owner, fast_account, content="promo", lane="bulk")  # arms the account's wake-up
    consumer = Consumer()
    runner = threading.Thread(target=consumer.run, kwargs={"seconds": 4, "wait_seconds": 1})
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while len(gateway.calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        sending = OutboundMessage.objects.filter(status=MessageStatus.SENDING)
        in_flight = {str(pk) for pk in sending.values_list("pk", flat=True)}
        accepted_at = time.time()
        reply = send(owner, fast_account, content="reply", priority=10)
        in_flight |= {str(pk) for pk in sending.values_list("pk", flat=True)}
    finally:
        runner.join()

    # A bulk call already claimed while the reply was being accepted may land first; no other.
    after = [
        c
        for c in gateway.calls
        if c.at > accepted_at and c.idempotency_key not in in_flight - {str(reply.pk)}
    ]
    assert after, "nothing was delivered after the reply"
    assert after[0].idempotency_key == str(reply.pk)
    assert OutboundMessage.objects.filter(lane="bulk", status=MessageStatus.SENT).count() >= 3


def test_it_holds_the_wake_up_and_pauses_receiving_while_the_database_is_down(
    owner, account, queues, gateway, monkeypatch
):
    """The database down (a restart, an outage): the copy in hand is kept (invisible) and looked
    at again after a pause, nothing new is received meanwhile, and delivery resumes in the same
    run. Left to SQS, each failure would be one more receive towards maxReceiveCount and the DLQ
    (and this run would end before the 90-s visibility timeout gave the copy back)."""
    from django.db import OperationalError

    from onlyfans import consumer as consumer_module

    monkeypatch.setattr(consumer_module, "DEPENDENCY_DOWN_PAUSE_SECONDS", 0.5)
    message = send(owner, account)
    real_claim, failures = scheduler.claim_next, []

    def claim_while_down(onlyfans_id):
        if len(failures) < 2:
            failures.append(onlyfans_id)
            raise OperationalError("server closed the connection unexpectedly")
        return real_claim(onlyfans_id)

    real_receive, received = sqs.receive, []

    def counting_receive(**kwargs):
        batch = real_receive(**kwargs)
        received.extend(batch)
        return batch

    monkeypatch.setattr(scheduler, "claim_next", claim_while_down)
    monkeypatch.setattr(sqs, "receive", counting_receive)
    consumer = Consumer()
    stop_when_sent = threading.Thread(target=_stop_when, args=(consumer, message), daemon=True)
    stop_when_sent.start()
    consumer.run(seconds=20, wait_seconds=1)

    message.refresh_from_db()
    assert len(failures) == 2
    assert message.status == MessageStatus.SENT
    assert len(gateway.calls) == 1
    assert len(received) == 1  # the copy came from SQS once: held through the outage


def _stop_when(consumer, message) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if OutboundMessage.objects.filter(pk=message.pk, status=MessageStatus.SENT).exists():
            break
        time.sleep(0.1)
    consumer.stop.set()


def test_a_paused_consumer_receives_nothing(queues, monkeypatch):
    calls = []
    monkeypatch.setattr(sqs, "receive", lambda **kwargs: calls.append(kwargs) or [])
    consumer = Consumer()
    consumer.pause_receiving(30)
    consumer.run(seconds=1.5, wait_seconds=1)
    assert calls == []


def test_a_grant_older_than_the_send_budget_is_not_used(
    owner, account, queues, gateway, settings, monkeypatch
):
    """A stall between the slot's grant and the call (a slow Redis answer, a paused process)
    longer than the send budget: the call is not made — the guard could not cover it — and the
    message waits for the next slot, no attempt counted."""
    settings.ONLYFANS_RATE_GUARD = 0.001  # a 30-ms budget on the 60-s window
    message = send(owner, account)
    real_take = limiter.take

    def stalled_take(*args, **kwargs):
        decision = real_take(*args, **kwargs)
        time.sleep(0.2)
        return decision

    monkeypatch.setattr(limiter, "take", stalled_take)
    report = consume()

    message.refresh_from_db()
    assert gateway.calls == []
    assert report.deferred == 1
    assert (message.status, message.attempt_count, message.wait_reason) == (
        MessageStatus.QUEUED,
        0,
        "rate_limit",
    )

"""Races between consumers, and between redrive and a consumer (found in review; each test
first failed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from onlyfans import delivery, queue
from onlyfans.dlq import dlq_redrive
from onlyfans.gateway import GatewayResult
from onlyfans.models import MessageStatus, OutboundMessage
from tests.conftest import make_account


# --- A late success from a consumer whose lease ran out never gets overwritten -------------------
def _queued(account) -> OutboundMessage:
    return OutboundMessage.objects.create(
        account=account, recipient_id="fan_1", content="hi", status=MessageStatus.QUEUED
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
@pytest.mark.parametrize(
    ("later", "_name"),
    [
        (GatewayResult(False, 503, 5, error="HTTP 503: busy"), "transient"),
        (GatewayResult(False, 400, 5, error="HTTP 400: bad", permanent=True), "permanent"),
    ],
)
def test_it_keeps_sent_when_the_stale_consumer_records_its_success_first(owner, later, _name):
    """Consumer A's lease runs out mid-call; B claims the row. A's call succeeded and is recorded
    first; B's call then fails. The message was delivered: it stays `sent` and is not retried."""
    message = _queued(make_account(owner))
    stale = delivery.claim(str(message.pk))
    OutboundMessage.objects.filter(pk=message.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    fresh = delivery.claim(str(message.pk))
    assert stale.ok and fresh.ok

    delivery.record_attempt(stale, GatewayResult(True, 200, 5, upstream_id="up_1"))
    recorded = delivery.record_attempt(fresh, later)

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.upstream_id == "up_1"
    assert message.claim_token is None
    assert message.attempts.count() == 2
    # The late consumer must neither requeue nor dead-letter a delivered message.
    assert recorded.superseded


@pytest.mark.django_db(transaction=True)
def test_a_superseded_consumer_only_drops_its_own_copy(owner, queues, monkeypatch):
    from onlyfans.consumer import Consumer

    account = make_account(owner)
    message = _queued(account)
    queue.publish([(str(message.pk), account.pk)])
    [received] = queue.receive(wait_seconds=1)
    claim = delivery.claim(str(message.pk))
    # Our lease ran out and another consumer took the row over while our call was failing.
    OutboundMessage.objects.filter(pk=message.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert delivery.claim(str(message.pk)).ok
    recorded = delivery.record_attempt(claim, GatewayResult(False, 503, 5, error="HTTP 503"))
    sent_to_dlq = []
    monkeypatch.setattr(queue, "send_to_dlq", lambda *a, **k: sent_to_dlq.append(a))

    Consumer()._settle(received, message, recorded)

    assert sent_to_dlq == []
    attrs = queue.attributes()
    assert attrs.depth + attrs.delayed + attrs.in_flight == 0  # no extra copy, ours deleted


# --- Redriving the DLQ never takes a row from a consumer that holds it ---------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_redrive_leaves_a_row_a_live_consumer_holds(owner, queues):
    account = make_account(owner)
    message = _queued(account)
    claim = delivery.claim(str(message.pk))
    assert claim.ok
    # A stale copy of the same message reached the DLQ (SQS's redrive policy).
    queue.send_to_dlq(str(message.pk), account.pk, reason="maxReceiveCount")

    dlq_redrive()

    message.refresh_from_db()
    assert message.status == MessageStatus.SENDING
    assert message.claim_token == claim.token
    attrs = queue.attributes()
    assert attrs.depth + attrs.delayed == 0  # no second copy to race the holder
    assert attrs.dlq_count == 0


@pytest.mark.django_db(transaction=True)
def test_redrive_publishes_nothing_for_a_row_that_changed_meanwhile(owner, queues, monkeypatch):
    from onlyfans import dlq

    account = make_account(owner)
    message = _queued(account)
    OutboundMessage.objects.filter(pk=message.pk).update(status=MessageStatus.DEAD_LETTERED)
    queue.send_to_dlq(str(message.pk), account.pk, reason="HTTP 503")
    real_row = dlq._row

    def row_then_sent(message_id):
        row = real_row(message_id)
        # Between the read and the update, staff redrove it and a consumer delivered it.
        OutboundMessage.objects.filter(pk=row.pk).update(status=MessageStatus.SENT)
        return row

    monkeypatch.setattr(dlq, "_row", row_then_sent)

    dlq_redrive()

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    attrs = queue.attributes()
    assert attrs.depth + attrs.delayed == 0


# --- A long batch keeps the messages it has not reached out of other consumers' hands ------------
@pytest.mark.django_db(transaction=True)
def test_a_slow_batch_keeps_its_unstarted_messages_invisible(owner, gateway, settings):
    """Ten messages received at once, each gateway call up to connect + read timeout (13 s by
    default): the tail of a batch outlived SQS's visibility timeout (90 s), other consumers
    received it again (towards maxReceiveCount) and claimed it; when the first consumer got to
    it, it claimed a retried message again and spent an attempt early."""
    import threading
    import uuid as _uuid

    from onlyfans.consumer import Consumer
    from onlyfans.services import MessageInput, message_send

    settings.SQS_VISIBILITY_TIMEOUT = 4
    main, dlq = queue.create_queues(queue_name=f"q-{_uuid.uuid4().hex[:8]}", dlq_name=f"d-{_uuid.uuid4().hex[:8]}")
    settings.SQS_RATE_LIMITER_QUEUE_URL, settings.SQS_RATE_LIMITER_DLQ_URL = main, dlq
    queue.clear_caches()
    account = make_account(owner, rate_limit_per_minute=600)
    for i in range(4):
        message_send(user=owner, account=account, data=MessageInput(recipient_id=f"fan_{i}", content="hi"))
    gateway.respond_next(200, delay=1.5, times=4)  # 6 s for the batch, over the 4 s timeout
    batch = queue.receive(max_messages=10, wait_seconds=1)
    assert len(batch) == 4
    seen_again: list[queue.QueuedMessage] = []
    done = threading.Event()

    def other_consumer():
        while not done.is_set():
            seen_again.extend(queue.receive(max_messages=10, wait_seconds=1, visibility_timeout=30))

    watcher = threading.Thread(target=other_consumer)
    watcher.start()
    try:
        consumer = Consumer()
        consumer.process(batch)
    finally:
        done.set()
        watcher.join()

    assert consumer.report.sent == 4
    assert seen_again == []

"""Races between consumers, and between redrive and a consumer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from onlyfans import delivery, scheduler, sqs
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
    account = make_account(owner)
    message = _queued(account)
    stale = scheduler.claim_next(account.onlyfans_id).claim
    OutboundMessage.objects.filter(pk=message.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    fresh = scheduler.claim_next(account.onlyfans_id).claim
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
def test_a_superseded_consumer_neither_retries_nor_dead_letters(
    owner, queues, monkeypatch, settings
):
    from onlyfans.consumer import Consumer

    settings.ONLYFANS_MAX_ATTEMPTS = 1
    account = make_account(owner)
    message = _queued(account)
    claim = scheduler.claim_next(account.onlyfans_id).claim
    # Our lease ran out and another consumer took the row over while our call was failing.
    OutboundMessage.objects.filter(pk=message.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert scheduler.claim_next(account.onlyfans_id).claim.ok
    recorded = delivery.record_attempt(claim, GatewayResult(False, 503, 5, error="HTTP 503"))
    sent_to_dlq = []
    monkeypatch.setattr(sqs, "send_to_dlq", lambda *a, **k: sent_to_dlq.append(a))

    consumer = Consumer()
    consumer._settle_outcome(message, recorded)

    assert recorded.superseded
    assert sent_to_dlq == []
    assert consumer.report.dead_lettered == 0
    message.refresh_from_db()
    assert message.status == MessageStatus.SENDING  # the holder's to decide


# --- Redriving the DLQ never takes a row from a consumer that holds it ---------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_redrive_leaves_a_row_a_live_consumer_holds(owner, queues):
    account = make_account(owner)
    message = _queued(account)
    claim = scheduler.claim_next(account.onlyfans_id).claim
    assert claim.ok
    # A stale copy of the same message reached the DLQ (SQS's redrive policy).
    sqs.send_to_dlq(str(message.pk), account.pk, reason="maxReceiveCount")

    dlq_redrive()

    message.refresh_from_db()
    assert message.status == MessageStatus.SENDING
    assert message.claim_token == claim.token
    attrs = sqs.attributes()
    assert attrs.depth + attrs.delayed == 0  # no second copy to race the holder
    assert attrs.dlq_count == 0


@pytest.mark.django_db(transaction=True)
def test_redrive_publishes_nothing_for_a_row_that_changed_meanwhile(owner, queues, monkeypatch):
    from onlyfans import dlq

    account = make_account(owner)
    message = _queued(account)
    OutboundMessage.objects.filter(pk=message.pk).update(status=MessageStatus.DEAD_LETTERED)
    sqs.send_to_dlq(str(message.pk), account.pk, reason="HTTP 503")
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
    attrs = sqs.attributes()
    assert attrs.depth + attrs.delayed == 0


# --- Two consumers on one slow account never send a message twice ------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_consumers_on_a_slow_account_send_each_message_once(
    owner, gateway, settings, monkeypatch
):
    """A gateway call outlasts SQS's visibility timeout: the account's wake-up reappears and a
    second consumer takes it while the first is still calling. The account is busy while one of
    its messages is being sent, so the second consumer claims nothing of it meanwhile.

    No race against the clock: the gateway holds the first call until the second consumer has
    looked at the account and found it busy, however long that takes (30-s cap)."""
    import threading
    import time
    import uuid as _uuid

    from onlyfans.consumer import Consumer
    from onlyfans.services import MessageInput, message_send

    settings.SQS_VISIBILITY_TIMEOUT = 1  # the wake-up reappears a second after it was taken
    settings.ONLYFANS_MIN_GAP_SECONDS = 0.05
    settings.ONLYFANS_READ_TIMEOUT = 60  # the held call must not time out on the consumer's side
    main, dlq = sqs.create_queues(
        queue_name=f"q-{_uuid.uuid4().hex[:8]}", dlq_name=f"d-{_uuid.uuid4().hex[:8]}"
    )
    settings.SQS_RATE_LIMITER_QUEUE_URL, settings.SQS_RATE_LIMITER_DLQ_URL = main, dlq
    sqs.clear_caches()
    account = make_account(owner, rate_limit_per_minute=600)
    for i in range(4):
        message_send(
            user=owner, account=account, data=MessageInput(recipient_id=f"fan_{i}", content="hi")
        )

    holding, busy_seen = threading.Event(), threading.Event()
    claimed_during_hold: list = []
    held: list[bool] = []
    real_claim_next = scheduler.claim_next

    def claim_next_watched(onlyfans_id):
        pick = real_claim_next(onlyfans_id)
        if holding.is_set():
            if pick.claim is not None:
                claimed_during_hold.append(pick.claim)
            elif pick.busy_until is not None:
                busy_seen.set()
        return pick

    def hold_the_first_call(fake):
        if len(fake.calls) == 1:
            holding.set()
            held.append(busy_seen.wait(timeout=30))
            holding.clear()

    monkeypatch.setattr(scheduler, "claim_next", claim_next_watched)
    gateway.on_call = hold_the_first_call
    stop = threading.Event()
    consumers = [Consumer(stop=stop), Consumer(stop=stop)]
    threads = [
        threading.Thread(target=c.run, kwargs={"seconds": 120, "wait_seconds": 1})
        for c in consumers
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 90
        while (
            time.monotonic() < deadline
            and OutboundMessage.objects.filter(status=MessageStatus.SENT).count() < 4
        ):
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    assert held == [True], "the second consumer never found the account busy"
    assert claimed_during_hold == []
    assert sum(c.report.sent for c in consumers) == 4
    assert len(gateway.calls) == 4
    assert OutboundMessage.objects.filter(status=MessageStatus.SENT, attempt_count=1).count() == 4

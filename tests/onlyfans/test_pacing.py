"""The pace module: live ETAs, waitingFor and nextAttemptAt for many messages at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from onlyfans import limiter, pacing
from onlyfans.models import MessageStatus, OutboundMessage, WaitReason
from tests.conftest import make_account
from tests.support.clock import assert_within, measured

pytestmark = pytest.mark.django_db


def waiting(account, n, **kwargs) -> list[OutboundMessage]:
    now = timezone.now()
    return [
        OutboundMessage.objects.create(
            account=account,
            recipient_id="f",
            content="x",
            status=MessageStatus.QUEUED,
            queued_at=now - timedelta(seconds=100 - i),
            **kwargs,
        )
        for i in range(n)
    ]


def schedules(messages):
    loaded = list(
        OutboundMessage.objects.select_related("account").filter(pk__in=[m.pk for m in messages])
    )
    return pacing.message_schedules(loaded)


def test_it_answers_for_many_messages_in_a_constant_number_of_queries(owner):
    first = make_account(owner)
    few = waiting(first, 2)
    with CaptureQueriesContext(connection) as small:
        schedules(few)
    many = few + waiting(first, 30, lane="bulk")
    for _ in range(5):
        many += waiting(make_account(owner), 4)
    with CaptureQueriesContext(connection) as large:
        result = schedules(many)
    assert len(large) == len(small)
    assert set(result) == {m.pk for m in many}


def test_each_message_waits_its_turn_in_lane_order(owner, settings):
    account = make_account(owner)
    bulk = waiting(account, 2, lane="bulk")
    replies = waiting(account, 3)
    result = schedules(bulk + replies)
    guard = 1 + settings.ONLYFANS_RATE_GUARD
    gap = settings.ONLYFANS_MIN_GAP_SECONDS * guard
    times = [result[m.pk].estimated_send_time for m in replies + bulk]
    steps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    # Replies a gap apart, then bulk (after every reply), then bulk at its even pace.
    assert steps[:2] == pytest.approx([gap, gap], abs=0.01)
    assert steps[2] == pytest.approx(gap, abs=0.01)
    assert steps[3] == pytest.approx(60 / 8 * guard, abs=0.01)
    assert {result[m.pk].waiting_for for m in bulk + replies} == {WaitReason.RATE_LIMIT}


def test_a_higher_priority_arrival_moves_the_estimate_by_one_slot(owner, settings):
    account = make_account(owner)
    [message] = waiting(account, 1, priority=5)
    before = schedules([message])[message.pk].estimated_send_time
    waiting(account, 1, priority=10)
    after = schedules([message])[message.pk].estimated_send_time
    gap = settings.ONLYFANS_MIN_GAP_SECONDS * (1 + settings.ONLYFANS_RATE_GUARD)
    assert (after - before).total_seconds() == pytest.approx(gap, abs=0.05)


def test_it_says_why_a_message_waits(owner):
    account = make_account(owner)
    later = timezone.now() + timedelta(seconds=40)
    [backoff] = waiting(account, 1, next_attempt_at=later, wait_reason=WaitReason.RETRY_BACKOFF)
    [gateway] = waiting(
        account, 1, next_attempt_at=later, wait_reason=WaitReason.GATEWAY_RATE_LIMITED
    )
    [redis] = waiting(account, 1, wait_reason=WaitReason.REDIS_UNAVAILABLE)
    sent = OutboundMessage.objects.create(
        account=account,
        recipient_id="f",
        content="x",
        status=MessageStatus.SENT,
        sent_at=timezone.now(),
    )
    result = schedules([backoff, gateway, redis, sent])
    assert (result[backoff.pk].waiting_for, result[backoff.pk].next_attempt_at) == (
        "retry_backoff",
        later,
    )
    assert result[gateway.pk].waiting_for == "gateway_rate_limited"
    assert result[backoff.pk].estimated_send_time >= later
    assert result[redis.pk].waiting_for == "redis_unavailable"
    assert (result[sent.pk].waiting_for, result[sent.pk].estimated_send_time) == (
        None,
        sent.sent_at,
    )


def test_the_estimate_starts_at_the_accounts_next_slot(owner):
    account = make_account(owner)
    with measured() as pushing:
        limiter.push_back(account.onlyfans_id, limit=10, seconds=50)
    [message] = waiting(account, 1)
    assert_within(schedules([message])[message.pk].estimated_send_time, pushing, plus=50)


def test_a_long_backlog_repeats_the_windows_pattern(owner, settings):
    """Ten replies a window the minimum gap apart, then the next window: the 100th of a fresh
    account's backlog goes out 9 windows and 9 gaps from now, beyond the calls replayed exactly."""
    account = make_account(owner)
    messages = waiting(account, 100)
    result = schedules(messages)
    guard = 1 + settings.ONLYFANS_RATE_GUARD
    window, gap = 60 * guard, settings.ONLYFANS_MIN_GAP_SECONDS * guard
    first = result[messages[0].pk].estimated_send_time
    for index in (9, 10, 64, 99):
        offset = (result[messages[index].pk].estimated_send_time - first).total_seconds()
        assert offset == pytest.approx((index // 10) * window + (index % 10) * gap, abs=0.05), index


def test_a_batch_appended_now_ends_where_the_same_model_puts_its_last_message(owner, settings):
    """`appended_eta` is `estimate_new`'s last estimate for a whole batch, without listing it: it
    goes behind every ready reply and every ready bulk message of an equal or higher priority,
    and once written, the batch's last message is given that same moment."""
    account = make_account(owner)
    other = make_account(owner)
    # The account's next slot pinned an hour ahead: every ETA below is that moment plus slots.
    pushed = limiter.push_back(account.onlyfans_id, limit=10, seconds=3600).pushed_until
    assert pushed is not None
    waiting(account, 3, lane="bulk", priority=5)
    waiting(account, 2, lane="bulk", priority=9)
    waiting(account, 4, lane="bulk", priority=1)  # behind the batch: not counted
    waiting(account, 2)  # replies: all of them before any bulk message
    waiting(other, 6, lane="bulk", priority=5)  # another account's queue

    eta = pacing.appended_eta(account, lane="bulk", priority=5, count=4)

    assert eta == pacing.estimate_new(account=account, items=[("bulk", 5)] * 4)[-1]
    guard = 1 + settings.ONLYFANS_RATE_GUARD
    gap, pace = settings.ONLYFANS_MIN_GAP_SECONDS * guard, 60 / 8 * guard
    # Two replies a gap apart, a gap, then the 5 bulk messages ahead and 3 of the batch's own.
    expected = pushed + timedelta(seconds=2 * gap + (5 + 4 - 1) * pace)
    assert abs((eta - expected).total_seconds()) < 0.001
    now = timezone.now()
    batch = [
        OutboundMessage.objects.create(
            account=account,
            recipient_id=f"fan_{i}",
            content="x",
            lane="bulk",
            priority=5,
            status=MessageStatus.QUEUED,
            queued_at=now,
        )
        for i in range(4)
    ]
    assert max(s.estimated_send_time for s in schedules(batch).values()) == eta

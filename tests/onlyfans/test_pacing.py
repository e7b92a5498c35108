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

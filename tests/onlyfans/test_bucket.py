"""The token bucket's Lua script on a real Redis server."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from onlyfans import bucket
from tests.support.gateway import max_calls_in_window

LIMIT = 10
WINDOW_US = 60_000_000


def fresh_account() -> str:
    return f"acct-{uuid.uuid4().hex}"


def take_at(account: str, now_us: int, limit: int = LIMIT) -> bucket.SlotDecision:
    return bucket._run("take", account, limit, now_us=now_us)


@given(
    gaps=st.lists(st.integers(min_value=0, max_value=20_000_000), min_size=1, max_size=60),
    limit=st.integers(min_value=1, max_value=30),
)
@hypothesis_settings(max_examples=150, deadline=None)
def test_it_never_grants_more_than_the_limit_in_any_window(gaps, limit):
    """For arbitrary arrival patterns, no 60-second window holds more than `limit` grants."""
    account, now, grants = fresh_account(), 1_700_000_000_000_000, []
    for gap in gaps:
        now += gap
        decision = take_at(account, now, limit)
        if decision.granted:
            grants.append(now / 1_000_000)
        else:
            # It says when the next slot is; asking then is granted (no starvation).
            assert decision.wait_seconds > 0
    assert max_calls_in_window(grants, WINDOW_US / 1_000_000) <= limit


@given(asks=st.integers(min_value=2, max_value=40))
@hypothesis_settings(max_examples=30, deadline=None)
def test_it_grants_the_slot_it_announced(asks):
    account, now = fresh_account(), 1_700_000_000_000_000
    granted = 0
    for _ in range(asks):
        decision = take_at(account, now)
        if decision.granted:
            granted += 1
            continue
        now += int(decision.wait_seconds * 1_000_000)
        assert take_at(account, now).granted
        granted += 1
    assert granted == asks


def test_it_spaces_slots_evenly_by_the_limit(settings):
    settings.ONLYFANS_RATE_GUARD = 0
    account = fresh_account()
    first = bucket.take(account, limit=10)
    second = bucket.take(account, limit=10)
    assert first.granted and not second.granted
    assert second.wait_seconds == pytest.approx(6.0, abs=0.5)


def test_it_uses_a_per_account_limit(settings):
    account = fresh_account()
    bucket.take(account, limit=60)
    assert bucket.peek(account, limit=60).wait_seconds <= 60 / 60 * (1 + settings.ONLYFANS_RATE_GUARD)


def test_it_keeps_accounts_independent():
    a, b = fresh_account(), fresh_account()
    assert bucket.take(a, limit=1).granted
    assert not bucket.take(a, limit=1).granted
    assert bucket.take(b, limit=1).granted


def test_it_pushes_the_next_slot_back():
    account = fresh_account()
    bucket.push_back(account, limit=10, seconds=120)
    decision = bucket.take(account, limit=10)
    assert not decision.granted
    assert decision.wait_seconds > 110


def test_it_expires_every_key():
    from django_redis import get_redis_connection

    account = fresh_account()
    bucket.take(account, limit=10)
    bucket.push_back(account, limit=10, seconds=30)
    redis = get_redis_connection("default")
    keys = redis.keys("*bucket*")
    assert keys
    assert all(redis.pttl(key) > 0 for key in keys)


def test_it_fails_closed_when_redis_is_unreachable(settings):
    from tests.support.servers import free_port

    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}}
    with pytest.raises(bucket.BucketUnavailable):
        bucket.take(fresh_account(), limit=10)
    assert bucket.redis_ok() is False

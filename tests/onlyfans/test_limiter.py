"""The limiter's Lua script on a real Redis server, for any interleaving of lanes and any clock."""

from __future__ import annotations

import uuid

import pytest
from django_redis import get_redis_connection
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from onlyfans import limiter
from onlyfans.limiter import BULK, INTERACTIVE, Params
from tests.support.gateway import max_calls_in_window

START_US = 1_700_000_000_000_000


def fresh_account() -> str:
    return f"acct-{uuid.uuid4().hex}"


def ask(
    account: str,
    params: Params,
    now_us: int,
    lane: str,
    mode: str = "take",
    push: float = 0,
    db_age: float | None = None,
):
    return limiter.run_script(
        mode=mode,
        onlyfans_id=account,
        params=params,
        lane=lane,
        push_seconds=push,
        db_last_call_age=db_age,
        now_us=now_us,
    )


params_strategy = st.builds(
    lambda limit, reserve, window, gap: Params(
        limit=limit, reserve=min(reserve, limit - 1), window=window, gap=gap
    ),
    limit=st.integers(min_value=1, max_value=20),
    reserve=st.integers(min_value=0, max_value=4),
    window=st.sampled_from([1.0, 6.0, 60.0]),
    gap=st.sampled_from([0.0, 0.1, 0.3, 3.0]),
).filter(lambda p: p.gap <= p.window)

steps_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=8_000_000),  # µs since the previous request
        st.sampled_from([INTERACTIVE, BULK]),
        st.sampled_from(["take", "take", "take", "peek", "push"]),
        st.floats(min_value=0, max_value=5),  # a 429's Retry-After, for push
    ),
    min_size=1,
    max_size=80,
)


@given(params=params_strategy, steps=steps_strategy)
@hypothesis_settings(max_examples=200, deadline=None)
def test_it_keeps_every_rule_for_any_interleaving(params, steps):
    """No window over the limit, no two calls closer than the gap, bulk never above limit − reserve
    in a window nor closer than its even pace, nothing before a Retry-After runs out."""
    account, now = fresh_account(), START_US
    grants: list[tuple[float, str]] = []
    pushed_until = 0.0
    for delta, lane, mode, retry_after in steps:
        now += delta
        decision = ask(account, params, now, lane, mode, retry_after)
        seconds = now / 1_000_000
        if mode == "push":
            pushed_until = max(pushed_until, seconds + retry_after)
        if decision.granted:
            assert seconds >= pushed_until - 1e-6
            grants.append((seconds, lane))
        elif mode == "take":
            assert decision.wait_seconds(lane) > 0
    times = [t for t, _ in grants]
    bulk = [t for t, lane in grants if lane == BULK]
    eps = 1e-6
    assert max_calls_in_window(times, params.window - eps) <= params.limit
    assert max_calls_in_window(bulk, params.window - eps) <= params.bulk_cap
    assert all(b - a >= params.gap - eps for a, b in zip(times, times[1:], strict=False))
    assert all(b - a >= params.bulk_pace - eps for a, b in zip(bulk, bulk[1:], strict=False))


@given(
    params=params_strategy,
    lanes=st.lists(st.sampled_from([INTERACTIVE, BULK]), min_size=1, max_size=40),
)
@hypothesis_settings(max_examples=100, deadline=None)
def test_it_grants_the_moment_it_announced(params, lanes):
    """Asking again exactly when the answer said is granted: callers wait on a timer, never poll."""
    account, now = fresh_account(), START_US
    for lane in lanes:
        decision = ask(account, params, now, lane)
        if decision.granted:
            continue
        now = int(decision.next_at(lane).timestamp() * 1_000_000)
        assert ask(account, params, now, lane).granted


def test_it_keeps_the_reserve_for_replies_during_a_mass_send():
    """Bulk saturates its share; a reply then still goes out within the minimum gap."""
    params = Params(limit=10, reserve=2, window=60.0, gap=3.0)
    account, now = fresh_account(), START_US
    bulk_times = []
    while len(bulk_times) < 8:
        decision = ask(account, params, now, BULK)
        if decision.granted:
            bulk_times.append(now)
        now = max(now + 1, int(decision.next_bulk_at.timestamp() * 1_000_000))
    # Eight bulk calls took 52.5 s: one per 7.5 s, never two closer.
    assert [(b - a) / 1e6 for a, b in zip(bulk_times, bulk_times[1:], strict=False)] == [7.5] * 7
    reply_at = bulk_times[-1] + 3_000_000
    assert not ask(account, params, reply_at, BULK).granted  # bulk's share of the window is used up
    assert ask(account, params, reply_at, INTERACTIVE).granted  # the reserve is the reply's


def test_bulk_gets_every_slot_while_replies_are_idle():
    params = Params(limit=10, reserve=2, window=60.0, gap=3.0)
    account, now, granted = fresh_account(), START_US, 0
    end = START_US + 600_000_000
    while now < end:
        decision = ask(account, params, now, BULK)
        granted += decision.granted
        now = max(now + 1, int(decision.next_bulk_at.timestamp() * 1_000_000))
    assert granted == 80  # (limit − reserve) per window, ten windows


def test_it_waits_out_a_window_when_redis_lost_what_the_database_remembers():
    params = Params(limit=10, reserve=2, window=60.0, gap=3.0)
    account = fresh_account()
    decision = ask(account, params, START_US, INTERACTIVE, db_age=20.0)
    assert not decision.granted
    assert decision.wait_seconds(INTERACTIVE) == pytest.approx(40.0)


def test_a_quiet_account_whose_calls_aged_out_has_not_lost_its_data():
    """The database counts a lost claim's call at the lease's end, a moment after the call log's
    last entry (the grant): while Redis knows the account, an empty log means only that the calls
    aged out, and nothing waits a window for the database's record (after a consumer died, its
    accounts would wait its lease and then a whole window more)."""
    params = Params(limit=10, reserve=2, window=60.0, gap=3.0)
    account = fresh_account()
    assert ask(account, params, START_US, INTERACTIVE).granted
    later = START_US + 70_000_000  # the grant is out of the window; the lease ended just now

    decision = ask(account, params, later, INTERACTIVE, db_age=0.5)

    assert decision.granted and decision.pushed_until is None
    # The same account once Redis lost its data: the database's record stands in.
    get_redis_connection("default").flushdb()
    lost = ask(account, params, later + 1, INTERACTIVE, db_age=0.5)
    assert not lost.granted
    assert lost.wait_seconds(INTERACTIVE) == pytest.approx(59.5, abs=0.01)


def test_it_keeps_accounts_independent():
    a, b = fresh_account(), fresh_account()
    assert limiter.take(a, limit=1, lane=INTERACTIVE).granted
    assert not limiter.take(a, limit=1, lane=INTERACTIVE).granted
    assert limiter.take(b, limit=1, lane=INTERACTIVE).granted


def test_it_pushes_the_next_call_back_for_a_retry_after():
    account = fresh_account()
    limiter.push_back(account, limit=10, seconds=120)
    decision = limiter.take(account, limit=10, lane=INTERACTIVE)
    assert not decision.granted
    assert decision.wait_seconds(INTERACTIVE) > 110
    assert decision.pushed_until is not None


def test_it_expires_every_key():
    from django_redis import get_redis_connection

    account = fresh_account()
    limiter.take(account, limit=10, lane=BULK)
    limiter.push_back(account, limit=10, seconds=30)
    redis = get_redis_connection("default")
    keys = redis.keys(f"*{account}*")
    assert len(keys) == 3  # the calls, the push, and that Redis knows the account
    assert all(redis.pttl(key) > 0 for key in keys)


def test_it_fails_closed_when_redis_is_unreachable(settings):
    from tests.support.servers import free_port

    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    with pytest.raises(limiter.LimiterUnavailable):
        limiter.take(fresh_account(), limit=10, lane=INTERACTIVE)
    assert limiter.redis_ok() is False

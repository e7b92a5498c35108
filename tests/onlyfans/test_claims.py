"""The dispatcher's pick: one account's best ready message, claimed atomically; exactly one of
many concurrent consumers wins, and exactly one of cancel and claim (run on PostgreSQL too)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from onlyfans import delivery, scheduler, wakeups
from onlyfans.models import MessageStatus, OutboundMessage
from onlyfans.pacing import ready_now
from tests.conftest import make_account

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def make_message(account, **kwargs) -> OutboundMessage:
    fields = {"recipient_id": "fan_1", "content": "hi", "status": MessageStatus.QUEUED, **kwargs}
    return OutboundMessage.objects.create(account=account, **fields)


def contend(n: int, work) -> list:
    barrier = threading.Barrier(n)
    results: list = []
    lock = threading.Lock()

    def run(index):
        try:
            barrier.wait()
            result = work(index)
            with lock:
                results.append(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_it_lets_exactly_one_of_many_concurrent_dispatchers_claim(owner):
    account = make_account(owner)
    messages = [make_message(account, content=f"m{i}") for i in range(3)]

    picks = contend(8, lambda _: scheduler.claim_next(account.onlyfans_id))

    assert len(picks) == 8
    claimed = [p.claim for p in picks if p.claim is not None]
    # One gateway call at a time per account: the others see it busy, none takes another row.
    assert len(claimed) == 1
    assert all(p.busy_until is not None for p in picks if p.claim is None)
    assert claimed[0].message.pk == messages[0].pk
    assert OutboundMessage.objects.filter(status=MessageStatus.SENDING).count() == 1


def test_it_picks_interactive_before_bulk_then_priority_then_acceptance_order(owner):
    account = make_account(owner)
    now = timezone.now()
    bulk_high = make_message(
        account, lane="bulk", priority=10, queued_at=now - timedelta(seconds=50)
    )
    old_low = make_message(account, priority=1, queued_at=now - timedelta(seconds=40))
    first_high = make_message(account, priority=9, queued_at=now - timedelta(seconds=30))
    second_high = make_message(account, priority=9, queued_at=now - timedelta(seconds=20))
    backing_off = make_message(account, priority=10, next_attempt_at=now + timedelta(minutes=5))

    order = []
    for _ in range(4):
        pick = scheduler.claim_next(account.onlyfans_id)
        order.append(pick.claim.message.pk)
        OutboundMessage.objects.filter(pk=pick.claim.message.pk).update(status=MessageStatus.SENT)

    assert order == [first_high.pk, second_high.pk, old_low.pk, bulk_high.pk]
    # Not due yet (back-off): not picked, and the account says when it needs a consumer.
    assert scheduler.claim_next(account.onlyfans_id).claim is None
    assert wakeups.next_need(account.onlyfans_id, slots=None) == backing_off.next_attempt_at


def test_it_frees_a_claim_whose_lease_ran_out(owner):
    account = make_account(owner)
    message = make_message(account)
    first = scheduler.claim_next(account.onlyfans_id).claim
    assert scheduler.claim_next(account.onlyfans_id).busy_until is not None

    OutboundMessage.objects.filter(pk=message.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    second = scheduler.claim_next(account.onlyfans_id).claim

    assert second.message.pk == message.pk
    assert second.token != first.token


def _lose_the_claim(message) -> None:
    OutboundMessage.objects.filter(pk=message.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )


def test_a_lost_claim_is_recorded_as_an_attempt_with_unknown_outcome(owner):
    account = make_account(owner)
    message = make_message(account)
    scheduler.claim_next(account.onlyfans_id)
    _lose_the_claim(message)

    assert scheduler.claim_next(account.onlyfans_id).claim is not None

    attempt = message.attempts.get()
    assert attempt.error == delivery.LOST_CLAIM_ERROR
    assert attempt.number == 1


def test_a_crash_loop_ends_dead_lettered_with_its_reason(owner, settings):
    """A message whose consumer dies every time it is sent (a poison message) must not loop
    unseen forever: after ONLYFANS_MAX_LOST_CLAIMS lost claims it is dead-lettered, and says why."""
    settings.ONLYFANS_MAX_LOST_CLAIMS = 3
    account = make_account(owner)
    message = make_message(account)
    for _ in range(3):
        assert scheduler.claim_next(account.onlyfans_id).claim is not None
        _lose_the_claim(message)

    pick = scheduler.claim_next(account.onlyfans_id)

    message.refresh_from_db()
    assert (pick.claim, pick.busy_until) == (None, None)
    assert message.status == MessageStatus.DEAD_LETTERED
    assert "3 times" in message.last_error and "Claim lost" in message.last_error
    assert message.attempts.count() == 3


def test_a_slow_consumers_late_record_replaces_its_lost_claim(owner):
    from onlyfans.gateway import GatewayResult

    account = make_account(owner)
    message = make_message(account)
    stale = scheduler.claim_next(account.onlyfans_id).claim
    _lose_the_claim(message)
    scheduler.claim_next(account.onlyfans_id)

    delivery.record_attempt(stale, GatewayResult(False, 503, 5, error="HTTP 503"))

    assert list(message.attempts.values_list("error", flat=True)) == ["HTTP 503"]


def test_a_lost_claims_call_counts_when_redis_lost_its_data(owner):
    """A consumer killed after its gateway call, before its record: the call is in no record but
    Redis's, and Redis may have lost its data meanwhile. The lost claim counts as the account's
    last call at its lease's end, so the cold start waits one window from it."""
    from onlyfans import limiter

    account = make_account(owner)
    message = make_message(account)
    scheduler.claim_next(account.onlyfans_id)
    _lose_the_claim(message)

    pick = scheduler.claim_next(account.onlyfans_id)

    account.refresh_from_db()
    lease_end = OutboundMessage.objects.get(pk=message.pk).attempts.get().attempted_at
    assert pick.pace is not None and pick.pace.last_call_at == account.last_gateway_call_at
    assert account.last_gateway_call_at is not None
    assert account.last_gateway_call_at <= lease_end
    # Redis knows nothing of the account (a fresh key space: as after FLUSHALL).
    age = (timezone.now() - pick.pace.last_call_at).total_seconds()
    decision = limiter.take(
        f"flushed-{message.pk}", limit=10, lane="interactive", db_last_call_age=age
    )
    assert not decision.granted
    window = limiter.params_for(10).window
    assert decision.wait_seconds("interactive") > window - age - 1


@pytest.mark.parametrize("status", ["sent", "cancelled", "failed", "dead_lettered"])
def test_it_never_claims_a_finished_message(owner, status):
    account = make_account(owner)
    make_message(account, status=status)

    pick = scheduler.claim_next(account.onlyfans_id)

    assert (pick.claim, pick.busy_until) == (None, None)


def test_it_keeps_sent_when_a_late_consumer_records_a_failure(owner):
    from onlyfans.gateway import GatewayResult

    account = make_account(owner)
    message = make_message(account)
    stale = scheduler.claim_next(account.onlyfans_id).claim
    OutboundMessage.objects.filter(pk=message.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    fresh = scheduler.claim_next(account.onlyfans_id).claim
    delivery.record_attempt(fresh, GatewayResult(True, 200, 5, upstream_id="up_1"))

    delivery.record_attempt(stale, GatewayResult(False, 503, 5, error="HTTP 503"))

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.upstream_id == "up_1"
    assert message.attempts.count() == 2


@pytest.mark.parametrize("round_", range(4))
def test_cancel_and_claim_race_ends_in_exactly_one_of_them(owner, round_):
    from onlyfans.services import message_cancel

    account = make_account(owner)
    message = make_message(account)

    def work(index):
        if index == 0:
            try:
                return ("cancel", message_cancel(user=owner, message_id=str(message.pk)).status)
            except Exception as exc:  # noqa: BLE001 - the 409 when the claim won
                return ("cancel", getattr(exc, "code", repr(exc)))
        pick = scheduler.claim_next(account.onlyfans_id)
        return ("claim", pick.claim is not None)

    results = dict(contend(2, work))
    message.refresh_from_db()
    if results["claim"]:
        assert message.status == MessageStatus.SENDING
        assert results["cancel"] == "not_cancellable"
    else:
        assert message.status == MessageStatus.CANCELLED
        assert results["cancel"] == MessageStatus.CANCELLED


def test_the_pick_and_the_relay_use_their_indexes_on_postgresql(owner):
    """Every polling query of the dispatcher and the relay is backed by an index."""
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    account = make_account(owner)
    now = timezone.now()
    OutboundMessage.objects.bulk_create(
        OutboundMessage(
            account=account,
            recipient_id="f",
            content="x",
            status=status,
            priority=1 + i % 10,
            queued_at=now,
        )
        for i, status in enumerate(["sent"] * 3000 + ["queued"] * 300 + ["pending"] * 10)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE onlyfans_outboundmessage")
        cursor.execute("ANALYZE onlyfans_onlyfansaccount")
    queries = {
        "outbound_pick_idx": OutboundMessage.objects.filter(
            ready_now(now), account_id__in=[account.pk], lane="interactive"
        )
        .order_by("-priority", "queued_at", "id")
        .values("pk")[:1],
        "outbound_sending_idx": OutboundMessage.objects.filter(
            account_id__in=[account.pk], status=MessageStatus.SENDING
        ).values("claimed_until"),
        "outbound_relay_idx": OutboundMessage.objects.filter(status=MessageStatus.PENDING)
        .order_by("-priority", "queued_at")
        .values("pk")[:1000],
        "account_wake_idx": account.__class__.objects.filter(wake_at__lt=now).values("onlyfans_id"),
    }
    # The dispatcher's own queries: one pick for both lanes and the claims out, one next-need.
    pick = scheduler.candidates([account.pk], now)
    own = {
        "pick": (pick.raw_query, pick.params, ["outbound_pick_idx", "outbound_sending_idx"]),
        "need": (
            wakeups._need_sql(),
            wakeups._need_params(account.onlyfans_id, now),
            ["outbound_pick_idx"],
        ),
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SET enable_seqscan = off"
        )  # tiny tables: ask whether an index *can* serve it
        for index, queryset in queries.items():
            plan = queryset.explain()
            assert index in plan, f"{index} not used:\n{plan}"
        for name, (sql, params, indexes) in own.items():
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert all(index in plan for index in indexes), (
                f"{name}: {indexes} not all used:\n{plan}"
            )
            assert "Seq Scan on onlyfans_outboundmessage" not in plan, f"{name}:\n{plan}"
        cursor.execute("SET enable_seqscan = on")

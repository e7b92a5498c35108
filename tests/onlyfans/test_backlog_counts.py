"""BacklogCount, kept by database triggers: after any mix of writes — the ORM's create, save,
bulk_create, queryset update, delete, the bulk INSERT … SELECT — every counter equals
a COUNT over the messages (run on PostgreSQL too, whose triggers are per statement)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.db.models import Count
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onlyfans.models import Lane, MessageStatus, OutboundMessage
from tests.conftest import make_account

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

STATUSES = [s.value for s in MessageStatus]
LANES = [lane.value for lane in Lane]


def counted() -> dict[tuple[int, str, str], int]:
    """What the status reads: the counter rows plus PostgreSQL's deltas not yet folded."""
    from onlyfans import backlog

    return backlog.counts()


def actual() -> dict[tuple[int, str, str], int]:
    rows = (
        OutboundMessage.objects.filter(status__in=MessageStatus.counted())
        .order_by()
        .values_list("account_id", "status", "lane")
        .annotate(n=Count("*"))
    )
    return {(a, s, lane): n for a, s, lane, n in rows}


def make(account, status="queued", lane="interactive") -> OutboundMessage:
    return OutboundMessage.objects.create(
        account=account, recipient_id="fan", content="hi", status=status, lane=lane
    )


def test_each_kind_of_write_keeps_the_counts_exact(owner):
    a, b = make_account(owner), make_account(owner)
    first = make(a)
    make(a, status="pending", lane="bulk")
    OutboundMessage.objects.bulk_create(
        [
            OutboundMessage(account=b, recipient_id=f"f{i}", content="x", status="queued")
            for i in range(5)
        ]
    )
    assert (
        counted()
        == actual()
        == {
            (a.pk, "queued", "interactive"): 1,
            (a.pk, "pending", "bulk"): 1,
            (b.pk, "queued", "interactive"): 5,
        }
    )

    first.status = MessageStatus.SENDING
    first.save()
    OutboundMessage.objects.filter(account=b).update(status=MessageStatus.DEAD_LETTERED)
    OutboundMessage.objects.filter(account=b)[:1].get().delete()
    OutboundMessage.objects.filter(account=a, lane="bulk").update(lane="interactive")
    assert counted() == actual()
    assert counted()[(b.pk, "dead_lettered", "interactive")] == 4

    first.status = MessageStatus.SENT
    first.save(update_fields=["status"])
    OutboundMessage.objects.filter(account=a).delete()
    assert counted() == actual() == {(b.pk, "dead_lettered", "interactive"): 4}


def test_the_bulk_insert_select_is_counted(owner):
    from onlyfans.bulk import messages_enqueue_bulk

    account = make_account(owner)
    messages_enqueue_bulk(
        user=owner,
        account=account,
        recipient_ids=[f"fan_{i}" for i in range(300)],
        content="hello",
        lane=Lane.BULK,
        arm=False,
    )
    assert counted() == actual() == {(account.pk, "queued", "bulk"): 300}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["create", "update", "update_many", "delete"]),
            st.integers(0, 2),  # which account
            st.sampled_from(STATUSES),
            st.sampled_from(LANES),
        ),
        max_size=25,
    )
)
def test_any_sequence_of_writes_keeps_the_counts_exact(owner, ops):
    from onlyfans import backlog

    accounts = [make_account(owner) for _ in range(3)]
    for op, which, status, lane in ops:
        account = accounts[which]
        mine = OutboundMessage.objects.filter(account=account)
        if op == "create":
            make(account, status=status, lane=lane)
        elif op == "update":
            message = mine.order_by("?").first()
            if message is not None:
                message.status, message.lane = status, lane
                message.save()
        elif op == "update_many":
            mine.filter(lane=lane).update(status=status)
        else:
            mine.filter(status=status).delete()
    assert counted() == actual()
    backlog.fold()
    assert counted() == actual()
    OutboundMessage.objects.all().delete()
    assert counted() == {}


def test_concurrent_writers_keep_the_counts_exact(owner):
    """Writers on one account at once — accepting, claiming, sending — on PostgreSQL: no lost
    update, no deadlock (the triggers lock the account's rows first, as a claim does)."""
    account = make_account(owner)
    seed = [make(account) for _ in range(40)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run(index: int) -> None:
        try:
            barrier.wait()
            for i in range(10):
                if index == 0:
                    make(account, status="pending", lane="bulk")
                else:
                    message = seed[(index - 1) * 10 + i]
                    for status in ("sending", "sent" if i % 2 else "queued"):
                        OutboundMessage.objects.filter(pk=message.pk).update(status=status)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert counted() == actual()
    assert counted()[(account.pk, "pending", "bulk")] == 10


def test_folding_the_deltas_changes_no_count(owner):
    from onlyfans import backlog
    from onlyfans.models import BacklogDelta

    account = make_account(owner)
    for status in ("pending", "queued", "queued", "sending"):
        make(account, status=status)
    before = backlog.counts([account.pk])

    backlog.fold()

    assert backlog.counts([account.pk]) == before == counted() == actual()
    assert not BacklogDelta.objects.exists()


def test_the_migration_counts_the_messages_already_there(owner):
    """Upgrading a database that holds messages: the counts start exact."""
    from django.core.management import call_command

    account = make_account(owner)
    make(account, status="queued", lane="bulk")
    make(account, status="dead_lettered")
    make(account, status="sent")
    call_command("migrate", "onlyfans", "0005", verbosity=0)
    try:
        with connection.cursor() as cursor:  # written while no trigger counts
            cursor.execute(
                "UPDATE onlyfans_outboundmessage SET status = 'pending' WHERE status = 'sent'"
            )
    finally:
        call_command("migrate", "onlyfans", verbosity=0)
    assert (
        counted()
        == actual()
        == {
            (account.pk, "queued", "bulk"): 1,
            (account.pk, "dead_lettered", "interactive"): 1,
            (account.pk, "pending", "interactive"): 1,
        }
    )


def test_an_attempt_moves_its_own_account_rows_last_attempt(owner):
    """`last_attempt_at` (the status's lastProcessedAt), kept by a trigger on the attempts: the
    message's own account row moves, to the latest attempt; a row sharing the OnlyFans account
    does not."""
    from datetime import timedelta

    from django.utils import timezone

    from onlyfans.models import DeliveryAttempt, OnlyFansAccount
    from tests.conftest import make_user

    account = make_account(owner)
    sharer = OnlyFansAccount.objects.create(
        owner=make_user("sharer"), onlyfans_id=account.onlyfans_id, username="shared"
    )
    message = make(account, status="sent")
    later, earlier = timezone.now(), timezone.now() - timedelta(minutes=5)
    DeliveryAttempt.objects.create(message=message, number=1, outcome="sent", attempted_at=later)
    DeliveryAttempt.objects.create(message=message, number=2, outcome="sent", attempted_at=earlier)

    account.refresh_from_db()
    sharer.refresh_from_db()
    assert (account.last_attempt_at, sharer.last_attempt_at) == (later, None)

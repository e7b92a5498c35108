"""The dispatcher's hot path keeps its number of SQL statements per delivery, whatever the backlog:
a claim (lock the account's rows, one pick for both lanes, the claim UPDATE) and one transaction
that records the attempt and settles the wake-up (lock, the message's UPDATE, the attempt's
INSERT, the next-need query, the account's UPDATE)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from onlyfans import limiter
from onlyfans.consumer import Consumer, Wake
from onlyfans.models import AttemptOutcome, DeliveryAttempt, Lane, MessageStatus, OutboundMessage
from tests.conftest import make_account

pytestmark = pytest.mark.django_db(transaction=True)

STATEMENTS_PER_DELIVERY = 8
TRANSACTIONS_PER_DELIVERY = 2


@pytest.fixture
def fast(settings):
    # No gap, the real window: a grant's send budget (half the window's guard) stays 0.9 s, so
    # the call is made however slow the host is.
    settings.ONLYFANS_MIN_GAP_SECONDS = 0


def queue(account, n: int, lane: str = Lane.BULK) -> list[OutboundMessage]:
    return OutboundMessage.objects.bulk_create(
        OutboundMessage(
            account=account,
            recipient_id=f"fan_{i}",
            content="hi",
            status=MessageStatus.QUEUED,
            lane=lane,
        )
        for i in range(n)
    )


def deliver_one(onlyfans_id: str) -> tuple[int, int]:
    """(statements, transactions) of one dispatch; BEGIN and COMMIT are not statements."""
    with CaptureQueriesContext(connection) as captured:
        Consumer().dispatch(onlyfans_id)
    sql = [query["sql"].split(None, 1)[0].upper() for query in captured.captured_queries]
    assert not [s for s in sql if s in ("SAVEPOINT", "RELEASE", "ROLLBACK")]
    return sum(1 for s in sql if s not in ("BEGIN", "COMMIT")), sql.count("COMMIT")


@pytest.mark.parametrize("backlog", [2, 300])
def test_it_delivers_with_a_fixed_number_of_statements(owner, gateway, fast, backlog):
    account = make_account(owner, rate_limit_per_minute=600)
    queue(account, backlog)
    queue(account, 1, lane=Lane.INTERACTIVE)

    counts = [deliver_one(account.onlyfans_id) for _ in range(2)]

    assert counts == [(STATEMENTS_PER_DELIVERY, TRANSACTIONS_PER_DELIVERY)] * 2
    assert OutboundMessage.objects.filter(status=MessageStatus.SENT).count() == 2
    assert len(gateway.calls) == 2


def test_the_attempt_number_counts_the_attempts_before_it(owner, gateway, fast):
    account = make_account(owner, rate_limit_per_minute=600)
    [message] = queue(account, 1)
    DeliveryAttempt.objects.create(
        message=message, number=1, outcome=AttemptOutcome.RATE_LIMITED, http_status=429
    )

    Consumer().dispatch(account.onlyfans_id)

    assert list(message.attempts.values_list("number", "outcome")) == [
        (1, AttemptOutcome.RATE_LIMITED),
        (2, AttemptOutcome.SENT),
    ]
    message.refresh_from_db()
    assert (message.status, message.attempt_count, message.claim_token) == (
        MessageStatus.SENT,
        1,
        None,
    )


def test_a_denied_slot_sends_nothing_and_records_nothing(owner, gateway, settings):
    settings.ONLYFANS_MIN_GAP_SECONDS = 30
    account = make_account(owner, rate_limit_per_minute=600)
    queue(account, 2)
    limiter.take(account.onlyfans_id, limit=600, lane=limiter.BULK)  # the gap starts now

    Consumer().dispatch(account.onlyfans_id)

    assert gateway.calls == []
    assert not DeliveryAttempt.objects.exists()
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {MessageStatus.QUEUED}


def test_the_consumer_keeps_its_database_connection_from_one_delivery_to_the_next(
    owner, gateway, fast
):
    # Each step closes what is stale (`close_old_connections`): with no connection age that was
    # every connection, and each delivery opened a new one (on SQLite, its PRAGMAs run again).
    account = make_account(owner, rate_limit_per_minute=600)
    queue(account, 1)
    queue(account, 1, lane=Lane.INTERACTIVE)  # first: bulk calls are paced 0.1 s apart
    consumer = Consumer()
    wake = Wake(account.onlyfans_id, None, "handle", invisible_until=0.0)

    consumer._step(wake)
    first = connection.connection
    consumer._step(wake)

    assert first is not None and connection.connection is first
    assert OutboundMessage.objects.filter(status=MessageStatus.SENT).count() == 2

"""Claiming rows: exactly one of many concurrent consumers wins (run on PostgreSQL too)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from onlyfans import delivery
from onlyfans.models import MessageStatus, OutboundMessage
from tests.conftest import make_account

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def make_message(account, **kwargs) -> OutboundMessage:
    return OutboundMessage.objects.create(
        account=account, recipient_id="fan_1", content="hi", status=MessageStatus.QUEUED, **kwargs
    )


def test_it_lets_exactly_one_of_many_concurrent_claims_win(owner):
    message = make_message(make_account(owner))
    barrier = threading.Barrier(8)
    results: list[delivery.Claim] = []
    lock = threading.Lock()

    def contend():
        try:
            barrier.wait()
            claim = delivery.claim(str(message.pk))
            with lock:
                results.append(claim)
        finally:
            connection.close()

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 8
    assert sum(1 for claim in results if claim.ok) == 1
    assert {claim.skip_reason for claim in results if not claim.ok} == {"held"}
    message.refresh_from_db()
    assert message.status == MessageStatus.SENDING


def test_it_frees_a_claim_whose_lease_ran_out(owner):
    message = make_message(make_account(owner))
    first = delivery.claim(str(message.pk))
    assert first.ok
    assert not delivery.claim(str(message.pk)).ok

    OutboundMessage.objects.filter(pk=message.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    second = delivery.claim(str(message.pk))

    assert second.ok
    assert second.token != first.token


@pytest.mark.parametrize("status", ["sent", "cancelled", "failed", "dead_lettered"])
def test_it_never_claims_a_finished_message(owner, status):
    message = make_message(make_account(owner))
    OutboundMessage.objects.filter(pk=message.pk).update(status=status)

    claim = delivery.claim(str(message.pk))

    assert not claim.ok
    assert claim.skip_reason == "final"


def test_it_reports_an_unknown_message_as_missing(db):
    assert delivery.claim("not-a-uuid").skip_reason == "missing"
    assert delivery.claim("00000000-0000-0000-0000-000000000000").skip_reason == "missing"


def test_it_keeps_sent_when_a_late_consumer_records_a_failure(owner):
    from onlyfans.gateway import GatewayResult

    message = make_message(make_account(owner))
    stale = delivery.claim(str(message.pk))
    OutboundMessage.objects.filter(pk=message.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    fresh = delivery.claim(str(message.pk))
    delivery.record_attempt(fresh, GatewayResult(True, 200, 5, upstream_id="up_1"))

    delivery.record_attempt(stale, GatewayResult(False, 503, 5, error="HTTP 503"))

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.upstream_id == "up_1"
    assert message.attempts.count() == 2

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from onlyfans import limiter
from onlyfans.models import DeliveryAttempt, MessageStatus, OutboundMessage
from tests.conftest import make_account, make_user

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:onlyfans_outboundmessage_changelist"


@pytest.fixture
def staff_client(client):
    staff = make_user("staff", is_staff=True, is_superuser=True)
    client.force_login(staff)
    return client


def make_messages(account, count, status=MessageStatus.QUEUED, **kwargs):
    OutboundMessage.objects.bulk_create(
        [
            OutboundMessage(
                account=account,
                recipient_id=f"fan_{i}",
                content=f"hello {i}",
                status=status,
                **kwargs,
            )
            for i in range(count)
        ]
    )


def test_it_is_for_staff_only(client, owner):
    client.force_login(owner)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_it_lists_messages_with_queue_numbers_above(staff_client, account, queues):
    make_messages(account, 3)
    response = staff_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="queue-depth">0<' in html
    assert 'id="queue-dlq">0<' in html
    assert "3 outbound messages" in html


def test_it_says_when_the_queue_is_unreachable(staff_client, account, sqs_down):
    response = staff_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert "SQS queue unreachable" in response.content.decode()


def test_it_filters_and_searches(staff_client, owner, queues):
    account = make_account(owner)
    make_messages(account, 2)
    make_messages(account, 1, status=MessageStatus.FAILED)
    OutboundMessage.objects.create(
        account=account, recipient_id="needle_fan", content="x", status="queued"
    )

    failed = staff_client.get(reverse(CHANGELIST), {"status__exact": "failed"})
    found = staff_client.get(reverse(CHANGELIST), {"q": "needle_fan"})

    assert failed.context["cl"].result_count == 1
    assert found.context["cl"].result_count == 1


def test_it_shows_a_message_with_its_attempts_read_only(staff_client, account, queues):
    message = OutboundMessage.objects.create(
        account=account, recipient_id="fan_1", content="hi", status="sent"
    )
    DeliveryAttempt.objects.create(
        message=message, number=1, outcome="sent", http_status=200, latency_ms=12
    )

    response = staff_client.get(reverse("admin:onlyfans_outboundmessage_change", args=[message.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    # The inline's heading is there with or without attempts: its row is what shows one.
    assert "Delivery attempts" in html
    row = {
        field: re.findall(rf'<td class="field-{field}">\s*<p>(.*?)</p>', html)
        for field in ("number", "outcome", "http_status", "latency_ms")
    }
    assert row == {
        "number": ["1"],
        "outcome": ["Sent"],
        "http_status": ["200"],
        "latency_ms": ["12"],
    }
    assert 'name="content"' not in html  # read-only: no input
    assert 'name="status"' not in html


def test_it_cancels_thousands_of_selected_messages_in_one_go(staff_client, account, queues):
    make_messages(account, 2000)
    make_messages(account, 5, status=MessageStatus.SENT)
    first_page = [str(pk) for pk in OutboundMessage.objects.values_list("pk", flat=True)[:100]]

    # "Select all 2,005 outbound messages", as staff do from the list page.
    response = staff_client.post(
        reverse(CHANGELIST),
        {
            "action": "cancel_selected",
            "select_across": "1",
            "index": "0",
            "_selected_action": first_page,
        },
        follow=True,
    )

    assert response.status_code == 200
    assert OutboundMessage.objects.filter(status=MessageStatus.CANCELLED).count() == 2000
    assert OutboundMessage.objects.filter(status=MessageStatus.SENT).count() == 5
    assert "2000 message(s) cancelled; 5 skipped" in response.content.decode()


def test_it_redrives_failed_and_dead_lettered_messages(staff_client, account, queues):
    from onlyfans import sqs
    from onlyfans.services import messages_publish_pending

    make_messages(account, 3, status=MessageStatus.FAILED, attempt_count=1)
    make_messages(account, 2, status=MessageStatus.DEAD_LETTERED, attempt_count=5)
    make_messages(account, 1, status=MessageStatus.SENT)
    ids = [str(pk) for pk in OutboundMessage.objects.values_list("pk", flat=True)]

    response = staff_client.post(
        reverse(CHANGELIST), {"action": "redrive_selected", "_selected_action": ids}, follow=True
    )

    assert "5 message(s) sent back to the queue" in response.content.decode()
    redriven = OutboundMessage.objects.filter(status=MessageStatus.PENDING)
    assert redriven.count() == 5
    assert set(redriven.values_list("attempt_count", flat=True)) == {0}
    report = messages_publish_pending(retry_delays=())  # what the relay does next
    assert report.published == 5
    assert sqs.attributes().depth == 1  # the account's wake-up


def test_it_shows_each_accounts_limit_next_slot_and_backlog(staff_client, owner, settings):
    busy = make_account(owner, rate_limit_per_minute=20, username="busy")
    make_messages(busy, 4)
    limiter.take(busy.onlyfans_id, limit=20, lane="interactive")

    response = staff_client.get(reverse("admin:onlyfans_onlyfansaccount_changelist"))

    html = response.content.decode()
    assert response.status_code == 200
    # Its own limit, not the default nor a shared account's (the page always holds "20", in dates).
    assert '<td class="field-rate_limit">20</td>' in html
    [wait] = re.findall(r"in (\d+\.\d) s", html)
    # The minimum gap (3 s) decides at 20 a minute.
    assert (
        0
        < float(wait)
        <= round(settings.ONLYFANS_MIN_GAP_SECONDS * (1 + settings.ONLYFANS_RATE_GUARD), 1)
    )
    assert '<td class="field-backlog">4</td>' in html

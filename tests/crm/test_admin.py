"""Django admin for fans, conversations, messages and webhook events."""

from __future__ import annotations

import pytest
from django.test import Client

from crm.models import MessageDirection, WebhookEvent
from onlyfans.models import MessageStatus, OutboundMessage
from tests.conftest import make_user
from tests.crm.factories import make_conversation, make_fan, make_message


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def thread(account, owner):
    fan = make_fan(account, username="anna_admin", tags=["vip"])
    conversation = make_conversation(fan, unread_count=2)
    make_message(conversation, content="inbound hello")
    outbound = OutboundMessage.objects.create(
        account=account, sender=owner, recipient_id=fan.onlyfans_user_id, content="reply",
        status=MessageStatus.FAILED, last_error="Recipient is not subscribed",
    )  # fmt: skip
    message = make_message(
        conversation, content="reply", direction=MessageDirection.OUTBOUND, outbound=outbound
    )
    return fan, conversation, message


def results(response) -> list:
    """The change list's rows (the search box echoes `q`, so the page's text proves nothing)."""
    assert response.status_code == 200, response.content
    return list(response.context["cl"].result_list)


def test_it_lists_searches_and_filters_fans(staff, thread, account):
    fan, _, _ = thread
    make_fan(account, username="bob_admin")
    page = staff.get("/admin/crm/fan/", {"q": "anna_admin", "subscription_status__exact": "active"})
    assert results(page) == [fan]
    assert "anna_admin" in page.content.decode() and "bob_admin" not in page.content.decode()
    assert results(staff.get("/admin/crm/fan/", {"q": "nobody"})) == []
    assert (
        results(
            staff.get(
                "/admin/crm/fan/", {"q": "anna_admin", "subscription_status__exact": "expired"}
            )
        )
        == []
    )


def test_it_shows_a_fans_system_fields_read_only(staff, thread):
    fan, _, _ = thread
    page = staff.get(f"/admin/crm/fan/{fan.pk}/change/").content.decode()
    assert 'name="username"' in page
    assert 'name="created_at"' not in page and 'name="updated_at"' not in page


def test_it_shows_a_conversation_with_its_thread_and_delivery_states(staff, thread):
    _, conversation, _ = thread
    listed = staff.get("/admin/crm/conversation/", {"q": "anna_admin", "pinned__exact": "0"})
    assert results(listed) == [conversation]
    assert results(staff.get("/admin/crm/conversation/", {"q": "nobody"})) == []
    assert (
        results(staff.get("/admin/crm/conversation/", {"q": "anna_admin", "pinned__exact": "1"}))
        == []
    )
    page = staff.get(f"/admin/crm/conversation/{conversation.pk}/change/").content.decode()
    assert "inbound hello" in page and "received" in page
    assert "failed" in page
    assert 'name="last_message_preview"' not in page  # kept by the system


def test_it_filters_messages_by_delivery_status_and_links_the_pipeline_message(staff, thread):
    _, conversation, message = thread
    inbound = conversation.messages.get(direction=MessageDirection.INBOUND)
    assert results(staff.get("/admin/crm/message/", {"delivery": "failed"})) == [message]
    assert results(staff.get("/admin/crm/message/", {"delivery": "received"})) == [inbound]
    assert results(staff.get("/admin/crm/message/", {"delivery": MessageStatus.SENT})) == []
    page = staff.get(f"/admin/crm/message/{message.pk}/change/").content.decode()
    assert str(message.outbound_id) in page
    assert 'name="external_id"' not in page and 'name="outbound"' not in page


def test_it_shows_webhook_events_read_only(staff, account):
    event = WebhookEvent.objects.create(
        account=account, event_id="evt_1", event_type="fan.expired", payload={"id": "evt_1"}
    )
    WebhookEvent.objects.create(
        account=account, event_id="evt_2", event_type="fan.expired", payload={"id": "evt_2"}
    )
    assert results(staff.get("/admin/crm/webhookevent/", {"q": "evt_1"})) == [event]
    assert results(staff.get("/admin/crm/webhookevent/", {"q": "evt_9"})) == []
    page = staff.get(f"/admin/crm/webhookevent/{event.pk}/change/").content.decode()
    assert 'name="event_id"' not in page
    assert staff.get("/admin/crm/webhookevent/add/").status_code == 403


def test_it_lists_segments_with_how_many_fans_they_hold_now(staff, account, owner):
    from crm.models import Segment

    for spent in (5, 50, 500):
        make_fan(account, total_spent=spent)
    Segment.objects.create(
        account=account, created_by=owner, name="Spenders over 20", rules={"minSpent": "20"}
    )
    page = staff.get("/admin/crm/segment/").content.decode()
    assert "Spenders over 20" in page
    assert '<td class="field-members">2</td>' in page

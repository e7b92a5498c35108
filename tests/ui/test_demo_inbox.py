"""The demo data fills the inbox: unread conversations, a pinned one, a failed and a queued
message."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from crm.campaigns.models import Campaign
from crm.management.commands.seed_demo import seed_demo
from crm.models import Conversation
from tests.support.accessibility import serious_violations
from tests.ui.conftest import log_in, screenshot


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    seed_demo()


@pytest.mark.django_db
def test_the_demo_inbox_has_every_kind_of_conversation(client, demo):
    assert client.post("/login", {"username": "demo", "password": "demo"}).status_code == 302
    html = client.get("/messages/onlyfans").content.decode()
    rows = re.findall(r'<li id="conv-(\d+)" class="conversation-item([^"]*)"', html)
    assert len(rows) == 4
    assert "pinned" in rows[0][1]
    assert sum("unread" in classes for _, classes in rows) >= 2
    assert 'data-marker="failed"' in html and 'data-marker="queued"' in html


@pytest.mark.django_db
def test_the_demo_campaigns_show_on_their_pages_and_in_the_threads(client, demo):
    assert client.post("/login", {"username": "demo", "password": "demo"}).status_code == 302
    listing = client.get("/campaigns").content.decode()
    assert 'data-state="finished"' in listing and 'data-state="running"' in listing
    running = Campaign.objects.get(name="Weekend bundle")
    page = client.get(f"/campaigns/{running.pk}").content.decode()
    assert 'data-sent="2"' in page and 'hx-trigger="every 3s"' in page
    jordan = Conversation.objects.get(fan__onlyfans_user_id="fan_125")
    assert (
        "Campaign: Weekend bundle" in client.get(f"/messages/onlyfans/{jordan.pk}").content.decode()
    )


@pytest.mark.django_db(transaction=True)
def test_the_demo_thread_in_the_browser(page, live_server, demo):
    log_in(page, live_server, "demo", "demo")
    alex = Conversation.objects.get(fan__onlyfans_user_id="fan_123")
    page.locator(f"#conv-{alex.pk} .conversation-link").click()
    expect(page.locator("#thread-messages .message.outbound").last).to_have_attribute(
        "data-status", "pending"
    )
    assert serious_violations(page) == []
    screenshot(page, "demo-inbox")
    sam = Conversation.objects.get(fan__onlyfans_user_id="fan_124")
    page.locator(f"#conv-{sam.pk} .conversation-link").click()
    failed = page.locator('#thread-messages .message[data-status="failed"]')
    expect(failed).to_contain_text("the fan has turned off messages")
    expect(failed.get_by_role("button", name="Retry")).to_be_visible()
    screenshot(page, "demo-failed")

"""The campaign pages in a browser: the create form's live count, creating and launching, the
progress page following the launch, pause then cancel; axe on every page."""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm.campaigns import delivery, services
from crm.campaigns import launch as campaign_launch
from crm.campaigns.models import Campaign, CampaignState
from crm.models import Segment
from onlyfans.models import MessageStatus, OutboundMessage
from tests.conftest import make_account, make_user
from tests.crm.factories import make_fan
from tests.support.accessibility import serious_violations
from tests.ui.conftest import log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_background_launch():
    """Launching enqueues `campaign_advance` on Celery; the tests push the launch on themselves."""
    with mock.patch.object(delivery, "advance_soon"):
        yield


@pytest.fixture
def creator(db):
    owner = make_user("creator")
    account = make_account(owner, username="luna")
    for n in range(12):
        make_fan(
            account,
            username=f"fan{n}",
            tags=["vip"] if n % 3 == 0 else ["new"],
            total_spent=f"{n * 40}.00",
        )
    Segment.objects.create(account=account, name="VIPs", rules={"tagsAny": ["vip"]})
    return type("Creator", (), {"owner": owner, "account": account})


def test_create_with_a_live_count_launch_pause_and_cancel(page, live_server, creator):
    log_in(page, live_server, "creator", "pw-creator")
    page.get_by_role("link", name="Campaigns").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    assert serious_violations(page) == []
    page.get_by_role("link", name="New campaign").click()

    count = page.locator("#audience-preview .count")
    expect(count).to_have_attribute("data-count", "12")
    page.get_by_label("Tags, any of (comma-separated)").fill("vip")
    expect(count).to_have_attribute("data-count", "4")  # updated as the rule is typed
    page.get_by_label("Spent from ($)").fill("200")
    expect(count).to_have_attribute("data-count", "2")
    expect(page.locator("#audience-preview .forecast")).to_contain_text("2 fans at")
    page.get_by_label("Spent from ($)").fill("lots")
    expect(page.locator("#audience-preview .inline-error")).to_contain_text("Spent from")
    page.get_by_label("Spent from ($)").fill("")
    expect(count).to_have_attribute("data-count", "4")
    assert serious_violations(page) == []
    screenshot(page, "campaign-form")

    page.get_by_label("Name (only you see it)").fill("VIP drop")
    page.get_by_role("textbox", name="Message", exact=True).fill("A new set, just for you")
    page.get_by_role("button", name="Create and launch").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+$"))
    campaign = Campaign.objects.get(name="VIP drop")
    assert campaign.state == CampaignState.RUNNING
    progress = page.locator("#progress")
    expect(progress).to_have_attribute("data-state", "running")
    expect(page.locator(".waiting-for")).to_contain_text("Launching")

    campaign_launch.campaign_advance(campaign.pk)  # what the Celery task does
    expect(page.locator("[data-total]")).to_have_attribute("data-total", "4")  # the poll brought it
    # The launch writes its messages queued (armed with them): all four wait there.
    expect(page.locator('.state-counts tr[data-state="queued"] td').first).to_have_text("4")
    ids = list(campaign.recipients.values_list("message_id", flat=True)[:1])
    OutboundMessage.objects.filter(pk__in=ids).update(
        status=MessageStatus.SENT, sent_at=timezone.now()
    )
    expect(page.locator("[data-sent]")).to_have_attribute("data-sent", "1")
    assert serious_violations(page) == []

    page.get_by_role("button", name="Pause").click()
    expect(progress).to_have_attribute("data-state", "paused")
    expect(page.locator(".waiting-for")).to_contain_text("Paused")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel campaign").click()
    expect(progress).to_have_attribute("data-state", "cancelled")
    expect(page.locator('.state-counts tr[data-state="cancelled"] td')).to_have_text("3")
    assert not OutboundMessage.objects.filter(
        status__in=[MessageStatus.PENDING, MessageStatus.QUEUED]
    ).exists()
    expect(page.get_by_role("button", name="Resume")).to_have_count(0)


def test_a_refused_action_is_explained_on_the_page(page, live_server, creator):
    campaign = services.campaign_create(
        account=creator.account,
        user=creator.owner,
        data={"name": "Later", "content": "x", "rules": {}},
    )
    log_in(page, live_server, "creator", "pw-creator")
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}")
    Campaign.objects.filter(pk=campaign.pk).update(
        state=CampaignState.CANCELLED
    )  # in another tab, say
    page.get_by_role("button", name="Launch").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "A cancelled campaign cannot be started. Nothing was changed."
    )


def test_the_progress_page_of_a_campaign_under_way(page, live_server, creator):
    """Half sent over the last hour, one skipped: the page the README shows."""
    make_fan(creator.account, username="gone", subscription_status="expired")
    for n in range(28):
        make_fan(creator.account, username=f"more{n}")
    campaign = services.campaign_create(
        account=creator.account,
        user=creator.owner,
        data={
            "name": "Weekend bundle",
            "content": "Bundle: 3 sets for $15 this weekend only",
            "rules": {},
        },
    )
    services.campaign_launch(campaign=campaign)
    campaign_launch.campaign_advance(campaign.pk)
    now = timezone.now()
    Campaign.objects.filter(pk=campaign.pk).update(launched_at=now - timedelta(minutes=60))
    ids = list(
        campaign.recipients.filter(message__isnull=False)
        .order_by("id")
        .values_list("message_id", flat=True)
    )
    # Sent over the hour at the bulk pace, a burst then steadier: bars of several heights.
    for index, message_id in enumerate(ids[:27]):
        OutboundMessage.objects.filter(pk=message_id).update(
            status=MessageStatus.SENT, sent_at=now - timedelta(minutes=58 - (index * 37) % 57)
        )
    log_in(page, live_server, "creator", "pw-creator")
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}")
    expect(page.locator("[data-sent]")).to_have_attribute("data-sent", "27")
    expect(page.get_by_role("img", name="Messages sent over time")).to_be_visible()
    expect(page.locator(".skips")).to_contain_text("Not subscribed")
    assert serious_violations(page) == []
    screenshot(page, "campaign-progress")
    page.goto(f"{live_server.url}/campaigns")
    expect(page.locator(f"#campaign-{campaign.pk}")).to_contain_text("27 / 41")
    screenshot(page, "campaign-list")

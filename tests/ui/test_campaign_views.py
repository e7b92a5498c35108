"""The campaign pages over HTTP (Django's test client): the list, the create form and its live
count, the progress page, its poll and its actions; tenancy, clear 400s and 409s, and constant
query counts."""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from crm.campaigns import delivery, services
from crm.campaigns import launch as campaign_launch
from crm.campaigns.models import Campaign, CampaignState
from crm.models import Segment
from onlyfans.models import MessageStatus, OutboundMessage
from tests.conftest import make_account
from tests.crm.factories import make_fan

pytestmark = pytest.mark.django_db

CAMPAIGNS = "/campaigns"


@pytest.fixture(autouse=True)
def no_background_launch():
    """Launching enqueues `campaign_advance` on Celery; the tests push it on themselves."""
    with mock.patch.object(delivery, "advance_soon"):
        yield


@pytest.fixture
def chatter(client, owner):
    client.force_login(owner)
    return client


def form(**fields) -> dict:
    return {
        "name": "Win-back",
        "content": "We miss you!",
        "audience": "rules",
        "action": "draft",
        **fields,
    }


def campaign_for(account, *, fans: int = 3, launch: bool = False, **kwargs) -> Campaign:
    for _ in range(fans):
        make_fan(account, tags=["vip"])
    campaign = services.campaign_create(
        account=account,
        user=account.owner,
        data={"name": "Drop", "content": "New set!", "rules": {}, **kwargs},
    )
    if launch:
        campaign = services.campaign_launch(campaign=campaign)
        campaign_launch.campaign_advance(campaign.pk)
        campaign.refresh_from_db()
    return campaign


def send_some(campaign: Campaign, count: int) -> None:
    ids = list(campaign.recipients.values_list("message_id", flat=True)[:count])
    OutboundMessage.objects.filter(pk__in=ids).update(
        status=MessageStatus.SENT, sent_at=timezone.now()
    )


# --- Login and tenancy ---------------------------------------------------------------------------
def test_the_pages_need_a_login(client):
    for path in (CAMPAIGNS, f"{CAMPAIGNS}/new", f"{CAMPAIGNS}/1", f"{CAMPAIGNS}/1/poll"):
        assert client.get(path).headers["Location"] == f"/login?next={path}"


def test_another_users_campaign_is_a_404_on_every_page(chatter, outsider):
    theirs = campaign_for(make_account(outsider), launch=True)
    assert chatter.get(f"{CAMPAIGNS}/{theirs.pk}").status_code == 404
    assert chatter.get(f"{CAMPAIGNS}/{theirs.pk}/poll").status_code == 404
    assert chatter.post(f"{CAMPAIGNS}/{theirs.pk}/pause").status_code == 404
    assert chatter.get(f"{CAMPAIGNS}/99999999999999999999999").status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == CampaignState.RUNNING
    assert theirs.name not in chatter.get(CAMPAIGNS).content.decode()


def test_the_inbox_links_to_the_campaigns(chatter):
    html = chatter.get("/messages/onlyfans").content.decode()
    assert f'href="{CAMPAIGNS}"' in html


# --- The list ------------------------------------------------------------------------------------
def test_the_list_shows_state_progress_and_projected_finish(chatter, account):
    running = campaign_for(account, fans=4, launch=True)
    send_some(running, 1)
    draft = services.campaign_create(
        account=account, user=account.owner, data={"name": "Later", "content": "x"}
    )
    html = chatter.get(CAMPAIGNS).content.decode()
    row = re.search(rf'<tr id="campaign-{running.pk}".*?</tr>', html, re.S).group(0)
    assert (
        'data-state="running"' in row and "1 / 4" in row and "<progress" in row and "<time" in row
    )
    draft_row = re.search(rf'<tr id="campaign-{draft.pk}".*?</tr>', html, re.S).group(0)
    assert "not launched" in draft_row


def test_the_list_runs_a_constant_number_of_queries(
    chatter, account, django_assert_max_num_queries
):
    for _ in range(6):
        campaign_for(account, fans=2, launch=True)
    with django_assert_max_num_queries(7):
        assert chatter.get(CAMPAIGNS).status_code == 200


# --- The create form -----------------------------------------------------------------------------
def test_the_live_count_follows_the_rules(chatter, account):
    make_fan(account, tags=["vip"], total_spent="500.00")
    make_fan(account, tags=["vip"], total_spent="5.00")
    make_fan(account, tags=["new"])

    def count(**params):
        response = chatter.get(f"{CAMPAIGNS}/new/audience", {"audience": "rules", **params})
        return response.status_code, re.search(
            r'data-count="(\d*)"', response.content.decode()
        ).group(1)

    assert count() == (200, "3")
    assert count(tags_any="vip") == (200, "2")
    assert count(tags_any="vip", min_spent="100") == (200, "1")
    response = chatter.get(f"{CAMPAIGNS}/new/audience", {"audience": "rules", "min_spent": "lots"})
    assert response.status_code == 400 and "Spent from" in response.content.decode()
    assert count(min_spent="9", max_spent="1")[0] == 400
    for account_id in ("abc", "99999999999999999999999", "424242", "²", "١٢"):
        response = chatter.get(
            f"{CAMPAIGNS}/new/audience", {"audience": "rules", "account": account_id}
        )
        assert response.status_code == 400 and "account not found" in response.content.decode()


def test_the_live_count_of_a_segment_and_its_forecast(chatter, account, outsider):
    for _ in range(5):
        make_fan(account, tags=["vip"])
    segment = Segment.objects.create(account=account, name="VIPs", rules={"tagsAny": ["vip"]})
    html = chatter.get(
        f"{CAMPAIGNS}/new/audience", {"audience": "segment", "segment": segment.pk}
    ).content.decode()
    assert 'data-count="5"' in html and re.search(r"5 fans at [\d.]+/min ≈", html)
    theirs = Segment.objects.create(account=make_account(outsider), name="Theirs", rules={})
    response = chatter.get(
        f"{CAMPAIGNS}/new/audience", {"audience": "segment", "segment": theirs.pk}
    )
    assert response.status_code == 400 and "not found" in response.content.decode()


def test_the_form_shows_the_users_segments_and_a_first_count(chatter, account, outsider):
    make_fan(account)
    Segment.objects.create(account=account, name="Mine", rules={})
    Segment.objects.create(account=make_account(outsider), name="Someone else's", rules={})
    html = chatter.get(f"{CAMPAIGNS}/new").content.decode()
    assert "Mine" in html and "Someone else" not in html and 'data-count="1"' in html
    assert '<label for="c-name">' in html and 'id="c-name"' in html


def test_creating_a_draft_and_launching_one(chatter, account):
    make_fan(account, tags=["vip"])
    make_fan(account)
    response = chatter.post(
        f"{CAMPAIGNS}/new", form(tags_any="vip", skip_if_replied_within_minutes="0")
    )
    draft = Campaign.objects.get()
    assert response.status_code == 302 and response.headers["Location"] == f"{CAMPAIGNS}/{draft.pk}"
    assert draft.state == CampaignState.DRAFT and draft.rules == {"tagsAny": ["vip"]}
    assert draft.skip_if_replied_within_minutes == 0
    chatter.post(
        f"{CAMPAIGNS}/new",
        form(name="Now", action="launch", media_urls="https://cdn.example/a.jpg"),
    )
    launched = Campaign.objects.get(name="Now")
    assert launched.state == CampaignState.RUNNING and launched.media_urls == [
        "https://cdn.example/a.jpg"
    ]


def test_a_future_schedule_makes_a_scheduled_campaign(chatter, account):
    make_fan(account)
    when = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    chatter.post(f"{CAMPAIGNS}/new", form(action="launch", scheduled_at=when))
    campaign = Campaign.objects.get()
    assert campaign.state == CampaignState.SCHEDULED
    assert campaign.scheduled_at.strftime("%Y-%m-%dT%H:%M") == when


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"name": ""}, "Name:"),
        ({"content": ""}, "Message:"),
        ({"media_urls": "http://plain.example/a.jpg"}, "Media URLs:"),
        ({"min_spent": "-3"}, "Audience rules: Spent from: A valid number is required."),
        (
            {"expiring_within_days": "soon"},
            "Audience rules: Expiring within (days): Must be an integer.",
        ),
        # Not ASCII digits: "²" passes str.isdigit() but int() refuses it; "١٢" int() reads as 12.
        ({"expiring_within_days": "²"}, "Audience rules: Expiring within (days):"),
        ({"expiring_within_days": "١٢"}, "Audience rules: Expiring within (days):"),
        ({"scheduled_at": "2020-01-01T10:00"}, "Scheduled at: Must not be in the past"),
        ({"scheduled_at": "tomorrow"}, "Scheduled at:"),
        (
            {"skip_if_replied_within_minutes": "-1"},
            "Skip fans a chatter wrote to within (minutes): "
            "Ensure this value is greater than or equal to 0.",
        ),
        ({"audience": "segment", "segment": ""}, "Segment:"),
        ({"audience": "segment", "segment": "424242"}, "Segment not found"),
        ({"audience": "segment", "segment": "²"}, "Segment:"),
        ({"account": "424242"}, "not found"),
        ({"account": "²"}, "Account: Must be an integer."),
    ],
)
def test_bad_input_is_explained_and_the_typed_values_kept(chatter, account, fields, says):
    response = chatter.post(f"{CAMPAIGNS}/new", form(**fields))
    html = response.content.decode()
    assert response.status_code in (400, 404), html
    # In the error list, not anywhere on the page: the form's labels hold most of these words.
    alert = re.search(r'<div id="form-errors".*?</ul>', html, re.DOTALL)
    assert alert and says in alert.group(), html
    assert 'role="alert"' in html and "We miss you!" in html or fields.get("content") == ""
    assert not Campaign.objects.exists()


# --- The progress page ---------------------------------------------------------------------------
def test_the_progress_page_shows_counts_chart_forecast_and_why_it_waits(chatter, account):
    campaign = campaign_for(account, fans=5, launch=True)
    send_some(campaign, 2)
    html = chatter.get(f"{CAMPAIGNS}/{campaign.pk}").content.decode()
    assert 'data-sent="2"' in html and 'data-total="5"' in html
    assert re.search(r'<tr data-state="sent"><th scope="row">Sent</th><td class="num">2</td>', html)
    assert "<svg" in html and html.count('class="bar"') == 24 and "2 messages sent between" in html
    assert re.search(r"3 fans at [\d.]+/min ≈", html)
    assert 'data-waiting-for="rate_limit"' in html
    assert 'hx-trigger="every 3s"' in html  # running: it polls
    assert (
        ">Pause</button>" in html
        and ">Cancel campaign</button>" in html
        and ">Resume</button>" not in html
    )


def test_pause_resume_cancel_from_the_page(chatter, account):
    campaign = campaign_for(account, fans=3, launch=True)
    response = chatter.post(f"{CAMPAIGNS}/{campaign.pk}/pause", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert (
        response.status_code == 200 and 'data-state="paused"' in html and ">Resume</button>" in html
    )
    assert 'data-waiting-for="paused"' in html
    response = chatter.post(f"{CAMPAIGNS}/{campaign.pk}/resume")
    assert response.status_code == 302
    chatter.post(f"{CAMPAIGNS}/{campaign.pk}/cancel", HTTP_HX_REQUEST="true")
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.CANCELLED
    assert not OutboundMessage.objects.filter(
        status__in=[MessageStatus.PENDING, MessageStatus.QUEUED]
    ).exists()


def test_an_illegal_action_is_a_409_with_a_clear_message(chatter, account):
    campaign = campaign_for(account, fans=1)
    response = chatter.post(f"{CAMPAIGNS}/{campaign.pk}/pause", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 409
    assert (
        "A draft campaign cannot be paused. Nothing was changed." in html and 'role="alert"' in html
    )
    assert (
        chatter.post(f"{CAMPAIGNS}/{campaign.pk}/pause").status_code == 409
    )  # the whole page, without htmx
    assert chatter.post(f"{CAMPAIGNS}/{campaign.pk}/explode").status_code == 404
    assert chatter.get(f"{CAMPAIGNS}/{campaign.pk}/pause").status_code == 405


def test_the_poll_answers_204_until_something_changes(chatter, account):
    campaign = campaign_for(account, fans=3, launch=True)
    html = chatter.get(f"{CAMPAIGNS}/{campaign.pk}").content.decode()
    version = re.search(r'data-version="(\w+)"', html).group(1)
    poll = f"{CAMPAIGNS}/{campaign.pk}/poll?version={version}"
    assert chatter.get(poll).status_code == 204
    send_some(campaign, 1)
    response = chatter.get(poll)
    assert response.status_code == 200 and 'data-sent="1"' in response.content.decode()
    assert response.headers["X-Campaign-Version"] != version


def test_a_finished_campaign_stops_polling(chatter, account):
    campaign = campaign_for(account, fans=2, launch=True)
    send_some(campaign, 2)
    services.campaigns_tick()
    html = chatter.get(f"{CAMPAIGNS}/{campaign.pk}").content.decode()
    assert (
        'data-state="finished"' in html
        and "every 3s" not in html
        and "<button" not in html.split('id="progress"')[1].split("</section>")[0]
    )


@pytest.mark.parametrize("fans", [2, 40])
def test_the_progress_page_and_poll_run_a_constant_number_of_queries(
    chatter, account, fans, django_assert_max_num_queries
):
    campaign = campaign_for(account, fans=fans, launch=True)
    send_some(campaign, fans // 2)
    # + 1 for the campaign's last message and + 3 for its live schedule in the pipeline
    # (onlyfans.pacing.message_schedules): the projected finish, whatever the campaign's size.
    with django_assert_max_num_queries(12):
        assert chatter.get(f"{CAMPAIGNS}/{campaign.pk}").status_code == 200
    with django_assert_max_num_queries(12):
        assert chatter.get(f"{CAMPAIGNS}/{campaign.pk}/poll").status_code == 200
    with django_assert_max_num_queries(11):
        assert chatter.get(f"{CAMPAIGNS}/{campaign.pk}/poll?version=x").status_code in (200, 204)

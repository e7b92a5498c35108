"""A campaign's progress and forecast through /api/crm/campaigns and the create page's live count:
the projected finish behind the account's backlog (the pipeline's ETA model), the effective rate,
the forecast in words, the recipients page by page, the list's filters, and every action in
every state."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.campaigns import delivery, launch, services
from crm.campaigns.forecast import forecast_text, format_duration
from crm.campaigns.models import Campaign, CampaignRecipient
from crm.campaigns.selectors import campaign_progress
from crm.models import Fan
from onlyfans import limiter
from onlyfans.models import Lane, MessageStatus, OutboundMessage
from tests.conftest import make_account, make_user
from tests.crm.factories import make_fan
from tests.support.api import assert_error, parse_iso
from tests.support.campaigns import (  # noqa: F401 - a fixture
    CAMPAIGNS,
    act,
    create,
    detail,
    launch_fully,
    launch_killed_after_one_batch,
    no_background_launch,
)

# With no guard on the window, the default limit (10 a minute, 2 kept for replies) gives the bulk
# lane 8 calls a minute: one every 7.5 s.
PACE = 7.5

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_background_launch")]


@pytest.fixture(autouse=True)
def eight_a_minute(settings):
    settings.ONLYFANS_RATE_GUARD = 0


def pin_next_slot(account, seconds: float = 3600) -> datetime:
    """The account's next slot an hour ahead (a gateway's Retry-After): from then on the ETA model
    hands out slots at the bulk pace, whatever time the test takes to get there."""
    pushed = limiter.push_back(account.onlyfans_id, limit=10, seconds=seconds).pushed_until
    assert pushed is not None
    return pushed


def slots_after(start: datetime, value: str) -> float:
    """How many bulk slots after `start` an API time is."""
    return (parse_iso(value) - start).total_seconds() / PACE


def queue(account, n: int, *, lane: str = Lane.BULK, priority: int = 5, **fields) -> None:
    for _ in range(n):
        OutboundMessage.objects.create(
            account=account,
            recipient_id="someone",
            content="x",
            lane=lane,
            priority=priority,
            status=MessageStatus.QUEUED,
            **fields,
        )


# --- The projected finish ----------------------------------------------------------------------
def test_a_draft_behind_a_running_campaign_finishes_its_own_length_later(api, account):
    for _ in range(5):
        make_fan(account, tags=["spring"])
    for _ in range(3):
        make_fan(account, tags=["summer"])
    running = launch_fully(api, create(api, {"filter": {"tagsAny": ["spring"]}})["id"])
    draft = create(api, {"filter": {"tagsAny": ["summer"]}})
    start = pin_next_slot(account)

    running_finish = detail(api, running["id"])["progress"]["projectedFinishAt"]
    draft_finish = detail(api, draft["id"])["progress"]["projectedFinishAt"]

    # The running campaign's last message has its 4 others ahead of it; the draft's third has
    # the running campaign's 5 and its own 2.
    assert slots_after(start, running_finish) == pytest.approx(4, abs=1e-3)
    assert slots_after(start, draft_finish) == pytest.approx(5 + 3 - 1, abs=1e-3)
    gap = parse_iso(draft_finish) - parse_iso(running_finish)
    assert gap.total_seconds() == pytest.approx(3 * 60 / 8, abs=1e-3)  # its 3 fans at 8/min


def test_the_backlog_is_what_the_dispatcher_sends_first(api, account, owner):
    """Ahead of a campaign's messages: every ready reply, and the ready bulk messages of an equal
    or higher priority. Not a lower priority, a held message, one not due, nor another account's."""
    for _ in range(2):
        make_fan(account)
    draft = create(api, {"filter": {}})
    queue(account, 2, lane=Lane.INTERACTIVE)
    queue(account, 3, priority=delivery.CAMPAIGN_PRIORITY)
    queue(account, 1, priority=10)
    queue(account, 4, priority=1)
    queue(account, 2, next_attempt_at=delivery.HOLD_UNTIL)
    queue(account, 2, next_attempt_at=timezone.now() + timedelta(hours=3))
    queue(make_account(owner), 5)
    start = pin_next_slot(account)
    gap = 3.0  # the minimum gap between two calls: the replies', then the first bulk one's

    finish = detail(api, draft["id"])["progress"]["projectedFinishAt"]

    seconds = (parse_iso(finish) - start).total_seconds()
    assert seconds == pytest.approx(2 * gap + (3 + 1 + 2 - 1) * PACE, abs=1e-3)


def test_a_campaign_scheduled_later_finishes_its_length_after_its_start(api, account):
    for _ in range(3):
        make_fan(account)
    later = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    campaign = create(api, {"filter": {}, "scheduledAt": later.isoformat()})
    scheduled = act(api, campaign["id"], "launch")
    assert scheduled["state"] == "scheduled"
    assert parse_iso(scheduled["progress"]["projectedFinishAt"]) == later + timedelta(
        seconds=3 * PACE
    )
    # Soon, but behind an account busy for an hour: the backlog decides.
    soon = (timezone.now() + timedelta(minutes=1)).isoformat()
    draft = create(api, {"filter": {}, "scheduledAt": soon})
    queue(account, 4)
    start = pin_next_slot(account)
    finish = detail(api, draft["id"])["progress"]["projectedFinishAt"]
    assert slots_after(start, finish) == pytest.approx(4 + 3 - 1, abs=1e-3)


def test_a_campaign_still_launching_counts_the_messages_not_written_yet(api, account, monkeypatch):
    for _ in range(5):
        make_fan(account)
    monkeypatch.setattr(launch, "FREEZE_BATCH", 2)
    campaign = create(api, {"filter": {}})
    act(api, campaign["id"], "launch")
    launch_killed_after_one_batch(monkeypatch, campaign["id"])
    start = pin_next_slot(account)

    progress = detail(api, campaign["id"])["progress"]

    assert (progress["total"], progress["byState"]["queued"]) == (5, 2)
    assert progress["waitingFor"] == "launching"
    # Its 2 messages are in the queue; the other 3 go behind them when written.
    assert slots_after(start, progress["projectedFinishAt"]) == pytest.approx(4, abs=1e-3)


def test_a_message_retrying_after_the_rest_is_the_last_to_go(api, account):
    for _ in range(3):
        make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    messages = OutboundMessage.objects.filter(campaign_recipient__campaign_id=campaign["id"])
    retry_at = timezone.now() + timedelta(hours=2)
    OutboundMessage.objects.filter(pk=messages.order_by("id").first().pk).update(
        next_attempt_at=retry_at
    )
    finish = detail(api, campaign["id"])["progress"]["projectedFinishAt"]
    assert (parse_iso(finish) - retry_at).total_seconds() == pytest.approx(0, abs=1e-3)


def test_the_create_pages_live_count_counts_the_backlog(client, owner, account):
    for _ in range(3):
        make_fan(account, tags=["summer"])
    queue(account, 5)
    start = pin_next_slot(account)
    client.force_login(owner)

    response = client.get("/campaigns/new/audience", {"audience": "rules", "tags_any": "summer"})

    assert response.status_code == 200
    html = response.content.decode()
    finish = datetime.fromisoformat(re.search(r'<time datetime="([^"]+)"', html).group(1))
    assert (finish - start).total_seconds() == pytest.approx((5 + 3 - 1) * PACE, abs=1e-3)
    # An hour of Retry-After and 5 messages first: the words say so.
    forecast = unescape(re.search(r'<p class="forecast">([^<]+)', html).group(1))
    assert forecast.startswith("3 fans at 8/min ≈ under a minute, plus 1 h ")
    assert forecast.endswith(" behind the account's backlog, done around ")


def test_a_draft_on_a_quiet_account_says_only_its_own_length(api, account):
    Fan.objects.bulk_create(
        Fan(account=account, onlyfans_user_id=f"fan_bulk_{n}", username=f"bulk{n}")
        for n in range(2000)
    )
    draft = create(api, {"filter": {}})
    assert draft["progress"]["bulkRatePerMinute"] == 8
    assert draft["progress"]["forecast"] == "2000 fans at 8/min ≈ 4 h 10 min"
    # The 2000th message goes 1999 slots after the account's next one (well beyond the calls the
    # model replays one by one).
    start = pin_next_slot(account)
    finish = detail(api, draft["id"])["progress"]["projectedFinishAt"]
    assert slots_after(start, finish) == pytest.approx(1999, abs=1e-3)


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (250, "4 h 10 min"),
        (60, "1 h 0 min"),
        (12, "12 min"),
        (11.2, "12 min"),
        (1, "1 min"),
        (0.99, "under a minute"),
        (0, "under a minute"),
    ],
)
def test_durations_read_in_hours_and_minutes(minutes, text):
    assert format_duration(minutes) == text


def test_the_forecast_names_the_time_the_backlog_adds():
    assert forecast_text(2000, 8) == "2000 fans at 8/min ≈ 4 h 10 min"
    assert forecast_text(2000, 8, backlog_minutes=0.9) == "2000 fans at 8/min ≈ 4 h 10 min"
    assert forecast_text(2000, 8, backlog_minutes=40) == (
        "2000 fans at 8/min ≈ 4 h 10 min, plus 40 min behind the account's backlog"
    )
    assert forecast_text(0, 8, backlog_minutes=40) == ""


def test_the_progress_costs_the_same_queries_whatever_the_size(owner):
    counts = []
    for fans in (2, 30):
        account = make_account(owner)
        for _ in range(fans):
            make_fan(account)
        campaigns = [
            services.campaign_create(
                account=account, user=owner, data={"name": "x", "content": "x", "rules": {}}
            )
            for _ in range(3)
        ]
        services.campaign_launch(campaign=campaigns[1])  # running, its messages not written yet
        services.campaign_launch(campaign=campaigns[2])
        assert launch.campaign_advance(campaigns[2].pk).done
        for campaign in campaigns:
            campaign = Campaign.objects.select_related("account").get(pk=campaign.pk)
            with CaptureQueriesContext(connection) as queries:
                assert campaign_progress(campaign).projected_finish_at is not None
            counts.append(len(queries))
    assert counts[:3] == counts[3:]


# --- The rate ----------------------------------------------------------------------------------
def test_the_rate_counts_the_messages_sent_in_the_last_ten_minutes(api, account):
    for _ in range(6):
        make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    assert campaign["progress"]["ratePerMinute"] == 0
    ids = list(
        CampaignRecipient.objects.filter(campaign_id=campaign["id"])
        .order_by("id")
        .values_list("message_id", flat=True)
    )
    now = timezone.now()
    for message_id, minutes_ago in zip(ids, (1, 4, 9, 11, 30), strict=False):
        OutboundMessage.objects.filter(pk=message_id).update(
            status=MessageStatus.SENT, sent_at=now - timedelta(minutes=minutes_ago)
        )
    progress = detail(api, campaign["id"])["progress"]
    assert progress["sent"] == 5
    assert progress["ratePerMinute"] == 0.3  # 3 in the window of 10 minutes
    assert progress["remaining"] == 1


# --- Recipients, page by page ------------------------------------------------------------------
def test_recipients_come_page_by_page_with_their_state(api, account):
    fans = [make_fan(account) for _ in range(4)]
    lapsed = make_fan(account, subscription_status="expired")
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    recipients = list(
        CampaignRecipient.objects.filter(campaign_id=campaign["id"])
        .select_related("fan")
        .order_by("id")
    )
    sent = next(r for r in recipients if r.fan_id == fans[1].pk)
    OutboundMessage.objects.filter(pk=sent.message_id).update(
        status=MessageStatus.SENT, sent_at=timezone.now()
    )
    path = f"{CAMPAIGNS}/{campaign['id']}/recipients"

    pages = [api.get(path, {"page": n, "pageSize": 2}).json() for n in (1, 2, 3)]

    assert [(p["total"], p["page"], p["pageSize"], p["totalPages"]) for p in pages] == [
        (5, 1, 2, 3),
        (5, 2, 2, 3),
        (5, 3, 2, 3),
    ]
    rows = [row for page in pages for row in page["results"]]
    expected = []
    for r in recipients:
        if r.fan_id == lapsed.pk:
            state, message_id, reason = "skipped", None, "unsubscribed"
        else:
            state = "sent" if r.pk == sent.pk else "queued"
            message_id, reason = str(r.message_id), ""
        expected.append((r.fan_id, r.fan.username, message_id, state, reason))
    assert [
        (row["fanId"], row["username"], row["messageId"], row["state"], row["skipReason"])
        for row in rows
    ] == expected
    beyond = api.get(path, {"page": 4, "pageSize": 2}).json()
    assert (beyond["total"], beyond["results"]) == (5, [])
    only_sent = api.get(path, {"state": "sent"}).json()
    assert [row["fanId"] for row in only_sent["results"]] == [fans[1].pk]
    for bad in ({"pageSize": 0}, {"page": "x"}, {"state": "lost"}, {"colour": "red"}):
        error = assert_error(api.get(path, bad), 400, "validation_error")
        assert set(error["details"]) == set(bad), error


# --- The list's filters ------------------------------------------------------------------------
def test_the_list_filters_by_state_and_account(api, owner, account):
    second = make_account(owner)
    make_fan(account)
    make_fan(second)
    draft = create(api, {"filter": {}, "accountId": account.pk})
    running = create(api, {"filter": {}, "accountId": account.pk})
    act(api, running["id"], "launch")
    elsewhere = create(api, {"filter": {}, "accountId": second.pk})

    def listed(**params) -> list[tuple[int, int, str]]:
        response = api.get(CAMPAIGNS, params)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["total"] == len(body["results"])
        return [(c["id"], c["accountId"], c["state"]) for c in body["results"]]

    assert listed(state="running") == [(running["id"], account.pk, "running")]
    assert listed(accountId=second.pk) == [(elsewhere["id"], second.pk, "draft")]
    assert listed(state="draft", accountId=account.pk) == [(draft["id"], account.pk, "draft")]
    assert listed(state="draft") == [
        (elsewhere["id"], second.pk, "draft"),
        (draft["id"], account.pk, "draft"),
    ]
    assert listed(state="paused") == []
    for bad in ({"state": "sleeping"}, {"accountId": "abc"}, {"accountId": 0}, {"owner": "me"}):
        error = assert_error(api.get(CAMPAIGNS, bad), 400, "validation_error")
        assert set(error["details"]) == set(bad), error
    theirs = make_account(make_user("stranger"))
    assert_error(api.get(CAMPAIGNS, {"accountId": theirs.pk}), 404, "not_found")


# --- Every action in every state ---------------------------------------------------------------
STATES = ("draft", "scheduled", "running", "paused", "finished", "cancelled")
LEGAL = {
    ("launch", "draft"): "running",
    ("pause", "running"): "paused",
    ("resume", "paused"): "running",
    ("cancel", "draft"): "cancelled",
    ("cancel", "scheduled"): "cancelled",
    ("cancel", "running"): "cancelled",
    ("cancel", "paused"): "cancelled",
}


def campaign_in(api, account, state: str) -> int:
    """A campaign brought to `state` through the API (and the beat's tick for `finished`)."""
    body: dict = {"filter": {}}
    if state == "scheduled":
        body["scheduledAt"] = (timezone.now() + timedelta(hours=1)).isoformat()
    campaign_id = create(api, body)["id"]
    if state in ("scheduled", "running", "paused", "finished"):
        act(api, campaign_id, "launch")
    if state in ("running", "paused", "finished"):
        assert launch.campaign_advance(campaign_id).done
    if state == "paused":
        act(api, campaign_id, "pause")
    if state == "cancelled":
        act(api, campaign_id, "cancel")
    if state == "finished":
        OutboundMessage.objects.filter(campaign_recipient__campaign_id=campaign_id).update(
            status=MessageStatus.SENT, sent_at=timezone.now()
        )
        services.campaigns_tick()
    assert Campaign.objects.get(pk=campaign_id).state == state
    return campaign_id


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", ["launch", "pause", "resume", "cancel"])
def test_each_action_in_each_state(api, account, action, state):
    make_fan(account)
    campaign_id = campaign_in(api, account, state)
    response = api.post(f"{CAMPAIGNS}/{campaign_id}/{action}")
    if (action, state) in LEGAL:
        assert response.status_code == 200, response.content
        assert response.json()["state"] == LEGAL[(action, state)]
        assert Campaign.objects.get(pk=campaign_id).state == LEGAL[(action, state)]
    else:
        error = assert_error(response, 409, "campaign_state_conflict")
        assert error["details"] == {"state": [state]}
        assert Campaign.objects.get(pk=campaign_id).state == state

"""/api/crm/campaigns: the state machine, the batched launch, skips, progress and tenancy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.campaigns import delivery, launch, services, threads
from crm.campaigns.models import Campaign, CampaignRecipient, CampaignState
from crm.models import MessageDirection, Segment
from onlyfans.models import Lane, MessageStatus, OutboundMessage
from tests.conftest import make_account
from tests.crm.factories import (
    MALFORMED_IDS,
    error_of,
    make_conversation,
    make_fan,
    make_message,
    send_json,
    url_id,
)
from tests.support.campaigns import (  # noqa: F401 - a fixture
    CAMPAIGNS,
    act,
    create,
    detail,
    launch_fully,
    launch_killed_after_one_batch,
    no_background_launch,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_background_launch")]


def test_a_draft_previews_its_audience_and_forecast(api, account):
    for _ in range(3):
        make_fan(account, tags=["vip"])
    make_fan(account)
    campaign = create(api, {"filter": {"tagsAny": ["vip"]}})
    assert campaign["state"] == "draft"
    assert campaign["progress"]["total"] == 3
    assert campaign["progress"]["remaining"] == 3
    assert campaign["progress"]["forecast"].startswith("3 fans at ")
    assert campaign["progress"]["projectedFinishAt"] is not None


def test_launch_freezes_the_audience_and_creates_bulk_messages(api, account):
    fans = [make_fan(account, tags=["vip"]) for _ in range(5)]
    segment = Segment.objects.create(account=account, name="vips", rules={"tagsAny": ["vip"]})
    campaign = create(api, {"segmentId": segment.pk})
    launched = launch_fully(api, campaign["id"])
    assert launched["state"] == "running"
    recipients = CampaignRecipient.objects.filter(campaign_id=campaign["id"])
    assert sorted(r.fan_id for r in recipients) == sorted(f.pk for f in fans)
    messages = OutboundMessage.objects.filter(campaign_recipient__campaign_id=campaign["id"])
    assert messages.count() == 5
    assert set(messages.values_list("lane", flat=True)) == {Lane.BULK}
    assert {m.metadata["campaignId"] for m in messages} == {campaign["id"]}
    # Editing the segment afterwards changes nothing for the launched campaign.
    make_fan(account, tags=["vip"])
    launch.campaign_advance(campaign["id"])
    assert recipients.count() == 5
    assert (
        launched["progress"]["byState"]["queued"] + launched["progress"]["byState"]["pending"] == 5
    )


def test_a_crash_between_batches_resumes_without_duplicates(api, account, monkeypatch):
    for _ in range(25):
        make_fan(account)
    monkeypatch.setattr(launch, "FREEZE_BATCH", 10)
    campaign = create(api, {"filter": {}})
    act(api, campaign["id"], "launch")
    launch_killed_after_one_batch(monkeypatch, campaign["id"])
    recipients = CampaignRecipient.objects.filter(campaign_id=campaign["id"])
    assert recipients.count() == 10  # the first batch, whole: its recipients and their messages
    assert recipients.filter(message__isnull=True).count() == 0
    # A second launch call is a 409, and the tick (twice, as two workers would) finishes the job.
    error_of(api.post(f"{CAMPAIGNS}/{campaign['id']}/launch"), 409, "campaign_state_conflict")
    launch.campaign_advance(campaign["id"])
    launch.campaign_advance(campaign["id"])
    assert recipients.count() == 25
    assert recipients.filter(message__isnull=True).count() == 0
    assert (
        OutboundMessage.objects.filter(campaign_recipient__campaign_id=campaign["id"]).count() == 25
    )
    assert OutboundMessage.objects.filter(metadata__campaignId=campaign["id"]).count() == 25
    assert len(set(recipients.values_list("recipient_id", flat=True))) == 25


def test_a_crash_inside_a_batch_leaves_none_of_it(api, account, monkeypatch):
    """A batch writes its recipients, their messages and thread entries in one transaction: a
    crash after the recipients are written, before their thread entries, leaves no recipient
    without its message, and the resumed launch writes each message once."""
    from crm.models import Message

    for _ in range(25):
        make_fan(account)
    monkeypatch.setattr(launch, "FREEZE_BATCH", 10)
    campaign = create(api, {"filter": {}})
    act(api, campaign["id"], "launch")
    calls = {"n": 0}
    real = threads.add_to_threads

    def crash_on_second(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real(*args)

    monkeypatch.setattr(threads, "add_to_threads", crash_on_second)
    with pytest.raises(RuntimeError):
        launch.campaign_advance(campaign["id"])
    recipients = CampaignRecipient.objects.filter(campaign_id=campaign["id"])
    assert recipients.count() == 10
    assert recipients.filter(message__isnull=True).count() == 0
    assert OutboundMessage.objects.filter(metadata__campaignId=campaign["id"]).count() == 10
    assert launch.campaign_advance(campaign["id"]).done
    assert recipients.count() == 25
    assert recipients.filter(message__isnull=True).count() == 0
    assert OutboundMessage.objects.filter(metadata__campaignId=campaign["id"]).count() == 25
    assert Message.objects.filter(outbound__metadata__campaignId=campaign["id"]).count() == 25


def test_a_batch_run_twice_does_nothing_the_second_time(api, account):
    """Two runs of the same batch (two workers, the second reading the campaign before the first
    committed): the second finds the cursor moved under the campaign's lock and writes nothing."""
    for _ in range(4):
        make_fan(account)
    campaign = create(api, {"filter": {}})
    act(api, campaign["id"], "launch")
    stale = Campaign.objects.select_related("account").get(pk=campaign["id"])
    assert launch._freeze_batch(stale) == (4, 4, 0)
    assert launch._freeze_batch(stale) == (0, 0, 0)
    assert CampaignRecipient.objects.filter(campaign_id=campaign["id"]).count() == 4
    assert OutboundMessage.objects.filter(metadata__campaignId=campaign["id"]).count() == 4


def test_it_skips_fans_written_to_recently_and_unsubscribed_ones(api, account, owner):
    chatted = make_fan(account)
    lapsed = make_fan(account, subscription_status="expired")
    fresh = make_fan(account)
    make_message(
        make_conversation(chatted),
        direction=MessageDirection.OUTBOUND,
        sent_at=timezone.now() - timedelta(minutes=5),
    )
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    reasons = dict(
        CampaignRecipient.objects.filter(campaign_id=campaign["id"]).values_list(
            "fan_id", "skip_reason"
        )
    )
    assert reasons == {chatted.pk: "replied_recently", lapsed.pk: "unsubscribed", fresh.pk: ""}
    assert campaign["progress"]["skipReasons"] == {"replied_recently": 1, "unsubscribed": 1}
    page = api.get(f"{CAMPAIGNS}/{campaign['id']}/recipients", {"state": "skipped"}).json()
    assert sorted(r["skipReason"] for r in page["results"]) == ["replied_recently", "unsubscribed"]


def test_skipping_recent_replies_can_be_turned_off(api, account):
    chatted = make_fan(account)
    make_message(
        make_conversation(chatted), direction=MessageDirection.OUTBOUND, sent_at=timezone.now()
    )
    campaign = launch_fully(api, create(api, {"filter": {}, "skipIfRepliedWithinMinutes": 0})["id"])
    assert campaign["progress"]["skipReasons"] == {}


def test_pause_holds_resume_releases_cancel_cancels(api, account):
    for _ in range(4):
        make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    messages = OutboundMessage.objects.filter(campaign_recipient__campaign_id=campaign["id"])
    paused = act(api, campaign["id"], "pause")
    assert paused["state"] == "paused"
    assert paused["progress"]["waitingFor"] == "paused"
    assert set(messages.values_list("next_attempt_at", flat=True)) == {delivery.HOLD_UNTIL}
    assert set(messages.values_list("status", flat=True)) <= {
        MessageStatus.PENDING,
        MessageStatus.QUEUED,
    }
    error_of(api.post(f"{CAMPAIGNS}/{campaign['id']}/pause"), 409, "campaign_state_conflict")

    assert act(api, campaign["id"], "resume")["state"] == "running"
    assert delivery.HOLD_UNTIL not in set(messages.values_list("next_attempt_at", flat=True))

    cancelled = act(api, campaign["id"], "cancel")
    assert cancelled["state"] == "cancelled"
    assert set(messages.values_list("status", flat=True)) == {MessageStatus.CANCELLED}
    assert cancelled["progress"]["byState"]["cancelled"] == 4
    error_of(api.post(f"{CAMPAIGNS}/{campaign['id']}/resume"), 409, "campaign_state_conflict")


def test_it_finishes_only_when_every_recipient_is_final(api, account):
    for _ in range(3):
        make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    messages = list(OutboundMessage.objects.filter(campaign_recipient__campaign_id=campaign["id"]))
    OutboundMessage.objects.filter(pk__in=[m.pk for m in messages[:2]]).update(
        status=MessageStatus.SENT, sent_at=timezone.now()
    )
    services.campaigns_tick()
    assert Campaign.objects.get(pk=campaign["id"]).state == CampaignState.RUNNING
    OutboundMessage.objects.filter(pk=messages[2].pk).update(status=MessageStatus.FAILED)
    services.campaigns_tick()
    finished = detail(api, campaign["id"])
    assert finished["state"] == "finished"
    assert finished["progress"]["sent"] == 2
    assert finished["progress"]["byState"]["failed"] == 1
    assert finished["progress"]["remaining"] == 0


def test_a_scheduled_campaign_starts_at_its_time(api, account):
    make_fan(account)
    later = timezone.now() + timedelta(hours=1)
    campaign = create(api, {"filter": {}, "scheduledAt": later.isoformat()})
    scheduled = act(api, campaign["id"], "launch")
    assert scheduled["state"] == "scheduled"
    assert scheduled["progress"]["waitingFor"] == "scheduled"
    services.campaigns_tick(now=later - timedelta(seconds=1))
    assert Campaign.objects.get(pk=campaign["id"]).state == CampaignState.SCHEDULED
    services.campaigns_tick(now=later)
    assert Campaign.objects.get(pk=campaign["id"]).state == CampaignState.RUNNING


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"filter": {}, "content": ""}, "content"),
        ({}, "segmentId"),
        ({"filter": {}, "segmentId": 1}, "segmentId"),
        ({"filter": {"minSpnt": 1}}, "filter.minSpnt"),
        ({"filter": {}, "mediaUrls": ["http://x"]}, "mediaUrls[0]"),
        ({"filter": {}, "scheduledAt": "tomorrow"}, "scheduledAt"),
        # No timezone, and too far ahead (the year 9999 overflowed the projected finish).
        ({"filter": {}, "scheduledAt": "2031-01-01T00:00:00"}, "scheduledAt"),
        ({"filter": {}, "scheduledAt": "9999-12-31T23:59:59Z"}, "scheduledAt"),
        ({"filter": {}, "skipIfRepliedWithinMinutes": -1}, "skipIfRepliedWithinMinutes"),
        ({"filter": {}, "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, account, body, field):
    error = error_of(
        send_json(api, "post", CAMPAIGNS, {"name": "x", "content": "y", **body}),
        400,
        "validation_error",
    )
    assert field in error["message"], error
    assert not Campaign.objects.exists()


def test_a_segment_of_another_of_your_accounts_is_a_400_naming_it(api, account, owner):
    other = make_account(owner)
    segment = Segment.objects.create(account=account, name="vips")
    error = error_of(
        send_json(
            api,
            "post",
            CAMPAIGNS,
            {"name": "x", "content": "y", "segmentId": segment.pk, "accountId": other.pk},
        ),
        400,
        "validation_error",
    )
    assert error["details"] == {"segmentId": ["This segment belongs to another of your accounts."]}
    assert not Campaign.objects.exists()


def test_another_users_campaign_and_segment_are_404(api, outsider_api, account, outsider):
    make_account(outsider)
    campaign = create(api, {"filter": {}})
    for method, path in [
        ("get", f"{CAMPAIGNS}/{campaign['id']}"),
        ("get", f"{CAMPAIGNS}/{campaign['id']}/recipients"),
        ("post", f"{CAMPAIGNS}/{campaign['id']}/launch"),
        ("post", f"{CAMPAIGNS}/{campaign['id']}/cancel"),
    ]:
        error_of(getattr(outsider_api, method)(path), 404, "not_found")
    segment = Segment.objects.create(account=account, name="mine")
    error_of(
        send_json(
            outsider_api, "post", CAMPAIGNS, {"name": "x", "content": "y", "segmentId": segment.pk}
        ),
        404,
    )
    assert outsider_api.get(CAMPAIGNS).json()["total"] == 0
    assert Campaign.objects.get(pk=campaign["id"]).state == CampaignState.DRAFT


def test_a_fan_who_unsubscribes_mid_campaign_is_skipped(api, client, account, settings):
    import json

    from tests.crm.factories import sign

    leaving, staying = make_fan(account, onlyfans_user_id="fan_leaving"), make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    body = json.dumps(
        {"id": "evt_left", "type": "fan.expired", "createdAt": timezone.now().isoformat(),
         "data": {"fan": {"onlyfansUserId": "fan_leaving"}}}
    ).encode()  # fmt: skip
    response = client.post(
        f"/api/onlyfans/webhooks/{account.pk}", data=body, content_type="application/json",
        **sign(settings.ONLYFANS_WEBHOOK_SECRET, body),
    )  # fmt: skip
    assert response.status_code == 200, response.content
    recipients = {
        r.fan_id: r
        for r in CampaignRecipient.objects.filter(campaign_id=campaign["id"]).select_related(
            "message"
        )
    }
    assert recipients[leaving.pk].skip_reason == "unsubscribed"
    assert recipients[leaving.pk].message.status == MessageStatus.CANCELLED
    assert recipients[staying.pk].skip_reason == ""
    assert detail(api, campaign["id"])["progress"]["skipReasons"] == {"unsubscribed": 1}


def test_a_chatters_reply_mid_campaign_skips_that_fan(api, account, queues):
    fan = make_fan(account)
    conversation = make_conversation(fan)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    response = send_json(
        api, "post", f"/api/crm/conversations/{conversation.pk}/messages", {"content": "Hey you!"}
    )
    assert response.status_code == 202, response.content
    recipient = CampaignRecipient.objects.select_related("message").get(campaign_id=campaign["id"])
    assert recipient.skip_reason == "replied_recently"
    assert recipient.message.status == MessageStatus.CANCELLED
    # The reply itself goes in the interactive lane, untouched.
    reply = OutboundMessage.objects.get(pk=response.json()["messageId"])
    assert (reply.lane, reply.status) != (Lane.BULK, MessageStatus.CANCELLED)


def test_campaign_status_prints_the_progress(api, account):
    from io import StringIO

    from django.core.management import call_command

    for _ in range(3):
        make_fan(account)
    campaign = launch_fully(api, create(api, {"name": "Spring sale", "filter": {}})["id"])
    out = StringIO()
    call_command("campaign_status", stdout=out)
    text = out.getvalue()
    assert f"#{campaign['id']} 'Spring sale'" in text
    assert "running, 0/3 sent" in text
    assert "3 fans at " in text
    out = StringIO()
    call_command("campaign_status", str(campaign["id"]), "--json", stdout=out)
    assert '"total": 3' in out.getvalue()
    with pytest.raises(Exception, match="No campaign with id 999999"):
        call_command("campaign_status", "999999")


def test_staff_see_campaigns_in_the_admin_and_can_pause_them(api, account):
    from django.test import Client

    from tests.conftest import make_user

    make_fan(account)
    campaign = launch_fully(api, create(api, {"name": "Admin sale", "filter": {}})["id"])
    staff = Client()
    staff.force_login(make_user("admin", is_staff=True, is_superuser=True))
    page = staff.get("/admin/crm/campaign/").content.decode()
    assert "Admin sale" in page and "0 / 1" in page
    assert staff.get(f"/admin/crm/campaign/{campaign['id']}/change/").status_code == 200
    response = staff.post(
        "/admin/crm/campaign/",
        {"action": "pause", "_selected_action": [campaign["id"]]},
        follow=True,
    )
    assert "1 campaign(s) paused." in response.content.decode()
    assert Campaign.objects.get(pk=campaign["id"]).state == CampaignState.PAUSED


def test_a_launch_puts_each_campaign_message_in_its_fans_thread(api, account):
    """Real launches, not only the demo data: each message is in its fan's thread, marked as the
    campaign's in the inbox; a fan without a conversation gets one; the inbox order of existing
    conversations is left alone; running the launch again adds nothing."""
    from crm.models import Conversation, Message
    from crm.ui.selectors import mark_campaign_messages

    chatted, new = make_fan(account), make_fan(account)
    earlier = timezone.now() - timedelta(days=3)
    conversation = make_conversation(chatted, last_activity_at=earlier)
    make_message(conversation, "hi!")
    campaign = create(api, {"filter": {}})

    launch_fully(api, campaign["id"])
    launch.campaign_advance(campaign["id"])

    for fan in (chatted, new):
        recipient = CampaignRecipient.objects.get(campaign_id=campaign["id"], fan=fan)
        [message] = Message.objects.filter(
            conversation__fan=fan, direction=MessageDirection.OUTBOUND
        )
        assert (message.outbound_id, message.content) == (recipient.message_id, "We miss you!")
        mark_campaign_messages([message])
        assert message.campaign_name == "Win-back"
    conversation.refresh_from_db()
    assert conversation.last_activity_at == earlier
    assert Conversation.objects.filter(fan=new).count() == 1
    thread = api.get(f"/api/crm/conversations/{conversation.pk}/messages").json()
    assert [m["content"] for m in thread["results"]] == ["We miss you!", "hi!"]


def test_a_recipient_never_gets_a_second_message_even_if_its_link_is_lost(api, account):
    """Each campaign message's id is derived from (campaign, fan): the database computes
    the link itself, and a run that finds a recipient unlinked (its link lost, the launch
    resumed) links it again to the message it already has instead of writing a second one."""
    for _ in range(6):
        make_fan(account)
    campaign = create(api, {"filter": {}})
    launch_fully(api, campaign["id"])
    recipients = CampaignRecipient.objects.filter(campaign_id=campaign["id"])
    for recipient in recipients:
        assert recipient.message_id == launch.message_id_for(campaign["id"], recipient.fan_id)
    lost = recipients.order_by("id")[2]
    CampaignRecipient.objects.filter(pk=lost.pk).update(message=None)
    Campaign.objects.filter(pk=campaign["id"]).update(messages_created_at=None)

    assert launch.campaign_advance(campaign["id"]).done

    lost.refresh_from_db()
    assert lost.message_id == launch.message_id_for(campaign["id"], lost.fan_id)
    messages = OutboundMessage.objects.filter(metadata__campaignId=campaign["id"])
    assert messages.count() == 6
    assert messages.filter(recipient_id=lost.recipient_id).count() == 1


def test_the_freeze_reads_the_audience_window_by_window(api, account, monkeypatch):
    """Batches of 3 fans examined, not of 3 members: a sparse audience is frozen whole, once."""
    fans = [make_fan(account, tags=["vip"] if n % 4 == 0 else []) for n in range(11)]
    monkeypatch.setattr(launch, "FREEZE_BATCH", 3)
    campaign = create(api, {"filter": {"tagsAny": ["vip"]}})
    launch_fully(api, campaign["id"])
    recipients = CampaignRecipient.objects.filter(campaign_id=campaign["id"])
    assert sorted(recipients.values_list("fan_id", flat=True)) == [
        fan.pk for n, fan in enumerate(fans) if n % 4 == 0
    ]
    assert recipients.filter(message__isnull=True).count() == 0


@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("get", "/recipients"),
        ("post", "/launch"),
        ("post", "/pause"),
        ("post", "/resume"),
        ("post", "/cancel"),
    ],
)
def test_it_answers_404_for_a_malformed_or_unknown_campaign_id(
    api, account, bad_id, method, suffix
):
    create(api, {"filter": {}})
    error_of(getattr(api, method)(f"{CAMPAIGNS}/{url_id(bad_id)}{suffix}"), 404, "not_found")
    assert Campaign.objects.get().state == CampaignState.DRAFT

"""What a campaign never does: send after a cancel, reach every fan once its segment is gone,
message a deleted or lapsed fan, launch from an inactive account or with the limiter off, stay
paused forever with nothing left, or leave its state and its messages half changed."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from crm import tasks
from crm.campaigns import delivery, launch, services
from crm.campaigns.models import Campaign, CampaignRecipient, CampaignState
from crm.models import Segment, SubscriptionStatus
from onlyfans.models import MessageStatus, OutboundMessage
from tests.crm.factories import error_of, make_fan
from tests.support.campaigns import (  # noqa: F401 - a fixture
    CAMPAIGNS,
    act,
    create,
    detail,
    launch_fully,
    no_background_launch,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_background_launch")]


def messages_of(campaign_id: int):
    return OutboundMessage.objects.filter(campaign_recipient__campaign_id=campaign_id)


def recipient_of(campaign_id: int, fan) -> CampaignRecipient:
    return CampaignRecipient.objects.select_related("message").get(
        campaign_id=campaign_id, recipient_id=fan.onlyfans_user_id
    )


# --- Cancel -------------------------------------------------------------------------------
def test_a_cancel_that_commits_while_a_batch_reads_its_window_gets_no_message_sent(
    api, account, monkeypatch
):
    for _ in range(5):
        make_fan(account)
    campaign = create(api, {"filter": {}})
    act(api, campaign["id"], "launch")
    real = launch._recently_written_to

    def cancel_meanwhile(c, fan_ids):
        # Between the batch's reads and its transaction: the cancel commits first.
        services.campaign_cancel(campaign=Campaign.objects.get(pk=c.pk))
        return real(c, fan_ids)

    monkeypatch.setattr(launch, "_recently_written_to", cancel_meanwhile)
    launch.campaign_advance(campaign["id"])
    assert not messages_of(campaign["id"]).exists()
    assert detail(api, campaign["id"])["state"] == "cancelled"


def test_a_failed_cancel_changes_nothing(api, account):
    make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    with (
        mock.patch.object(delivery, "cancel", side_effect=RuntimeError("crash")),
        pytest.raises(RuntimeError),
    ):
        services.campaign_cancel(campaign=Campaign.objects.get(pk=campaign["id"]))
    # Not a cancelled campaign with its messages still queued: still running, as before.
    assert Campaign.objects.get(pk=campaign["id"]).state == CampaignState.RUNNING
    assert set(messages_of(campaign["id"]).values_list("status", flat=True)) <= {
        MessageStatus.PENDING,
        MessageStatus.QUEUED,
    }


def test_a_failed_pause_leaves_the_campaign_running(api, account):
    make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    with (
        mock.patch.object(delivery, "hold", side_effect=RuntimeError("crash")),
        pytest.raises(RuntimeError),
    ):
        services.campaign_pause(campaign=Campaign.objects.get(pk=campaign["id"]))
    # Never "paused" while its messages are still free to go.
    assert Campaign.objects.get(pk=campaign["id"]).state == CampaignState.RUNNING


# --- The segment ----------------------------------------------------------------------------
def test_a_segment_a_draft_uses_cannot_be_deleted(api, account):
    make_fan(account, tags=["vip"])
    segment = Segment.objects.create(account=account, name="vips", rules={"tagsAny": ["vip"]})
    campaign = create(api, {"segmentId": segment.pk})
    error = error_of(api.delete(f"/api/crm/segments/{segment.pk}"), 409, "segment_in_use")
    assert error["details"]["campaignIds"] == [campaign["id"]]
    assert Segment.objects.filter(pk=segment.pk).exists()

    # Once the campaign is launched, it keeps its frozen audience and the segment may go.
    launch_fully(api, campaign["id"])
    assert api.delete(f"/api/crm/segments/{segment.pk}").status_code == 204
    assert CampaignRecipient.objects.filter(campaign_id=campaign["id"]).count() == 1


def test_a_campaign_whose_segment_was_deleted_reaches_no_one(api, account):
    make_fan(account, tags=["vip"])
    for _ in range(3):
        make_fan(account)
    segment = Segment.objects.create(account=account, name="vips", rules={"tagsAny": ["vip"]})
    campaign = create(api, {"segmentId": segment.pk})
    Segment.objects.filter(pk=segment.pk).delete()  # e.g. by staff in the admin
    assert detail(api, campaign["id"])["progress"]["total"] == 0
    launch_fully(api, campaign["id"])
    assert not CampaignRecipient.objects.filter(campaign_id=campaign["id"]).exists()
    assert not messages_of(campaign["id"]).exists()


# --- Fans who can no longer be messaged -----------------------------------------------------
def test_deleting_a_fan_cancels_their_campaign_message(api, account):
    leaving, staying = make_fan(account), make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    message_id = recipient_of(campaign["id"], leaving).message_id
    assert api.delete(f"/api/crm/fans/{leaving.pk}").status_code == 204
    assert OutboundMessage.objects.get(pk=message_id).status == MessageStatus.CANCELLED
    recipient = CampaignRecipient.objects.get(campaign_id=campaign["id"], message_id=message_id)
    assert recipient.skip_reason == "fan_deleted"
    assert recipient_of(campaign["id"], staying).message.status != MessageStatus.CANCELLED
    assert detail(api, campaign["id"])["progress"]["skipReasons"] == {"fan_deleted": 1}


def test_a_fan_marked_expired_by_an_edit_is_skipped(api, account):
    fan = make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    response = api.patch(
        f"/api/crm/fans/{fan.pk}", {"subscriptionStatus": "expired"}, format="json"
    )
    assert response.status_code == 200, response.content
    recipient = recipient_of(campaign["id"], fan)
    assert recipient.skip_reason == "unsubscribed"
    assert recipient.message.status == MessageStatus.CANCELLED


def test_a_fan_past_an_expiry_that_does_not_renew_is_skipped_at_launch(api, account):
    now = timezone.now()
    lapsed = make_fan(account, expires_at=now - timedelta(days=1), auto_renew=False)
    renewing = make_fan(account, expires_at=now - timedelta(days=1), auto_renew=True)
    current = make_fan(account, expires_at=now + timedelta(days=3), auto_renew=False)
    assert lapsed.subscription_status == SubscriptionStatus.ACTIVE  # no webhook said so yet
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    assert recipient_of(campaign["id"], lapsed).skip_reason == "unsubscribed"
    assert recipient_of(campaign["id"], lapsed).message_id is None
    for fan in (renewing, current):
        assert recipient_of(campaign["id"], fan).message_id is not None


def test_a_lapsed_fan_left_without_a_message_is_skipped_when_its_message_is_created(api, account):
    fan = make_fan(account)
    campaign = create(api, {"filter": {}})
    launch_fully(api, campaign["id"])
    # A recipient frozen without its message (an earlier launch, or its link lost), whose
    # subscription has lapsed since.
    recipient = recipient_of(campaign["id"], fan)
    OutboundMessage.objects.filter(pk=recipient.message_id).delete()
    CampaignRecipient.objects.filter(pk=recipient.pk).update(message=None)
    Campaign.objects.filter(pk=campaign["id"]).update(messages_created_at=None)
    fan.expires_at, fan.auto_renew = timezone.now() - timedelta(hours=1), False
    fan.save()
    launch.campaign_advance(campaign["id"])
    recipient.refresh_from_db()
    assert (recipient.skip_reason, recipient.message_id) == ("unsubscribed", None)


# --- What a send refuses, a launch refuses ----------------------------------------------------
def test_an_inactive_account_cannot_launch_or_resume(api, account):
    make_fan(account)
    campaign = create(api, {"filter": {}})
    account.is_active = False
    account.save()
    error = error_of(api.post(f"{CAMPAIGNS}/{campaign['id']}/launch"), 409, "account_inactive")
    assert account.username in error["message"]
    assert detail(api, campaign["id"])["state"] == "draft"

    account.is_active = True
    account.save()
    launch_fully(api, campaign["id"])
    act(api, campaign["id"], "pause")
    account.is_active = False
    account.save()
    error_of(api.post(f"{CAMPAIGNS}/{campaign['id']}/resume"), 409, "account_inactive")
    assert detail(api, campaign["id"])["state"] == "paused"


def test_with_the_limiter_disabled_a_launch_is_a_503(api, account, settings):
    make_fan(account)
    campaign = create(api, {"filter": {}})
    settings.RATE_LIMITER_ENABLED = False
    error_of(api.post(f"{CAMPAIGNS}/{campaign['id']}/launch"), 503, "rate_limiter_disabled")
    assert detail(api, campaign["id"])["state"] == "draft"


# --- Finishing --------------------------------------------------------------------------------
def test_a_paused_campaign_with_every_recipient_final_finishes(api, account):
    make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    messages_of(campaign["id"]).update(status=MessageStatus.SENT, sent_at=timezone.now())
    act(api, campaign["id"], "pause")  # after its last send: nothing left to hold
    services.campaigns_tick()
    assert detail(api, campaign["id"])["state"] == "finished"


def test_a_paused_campaign_with_recipients_left_stays_paused(api, account):
    make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    act(api, campaign["id"], "pause")
    services.campaigns_tick()
    assert detail(api, campaign["id"])["state"] == "paused"


# --- One launch worker at a time ------------------------------------------------------------
def test_a_second_launch_worker_for_the_same_campaign_steps_aside(api, account):
    make_fan(account)
    campaign = create(api, {"filter": {}})
    act(api, campaign["id"], "launch")
    real = launch.campaign_advance
    seen = []

    def while_running(campaign_id, **kwargs):
        # A second task queued by the tick meanwhile: it finds the lease taken.
        seen.append(tasks.campaign_advance(campaign_id))
        return real(campaign_id, **kwargs)

    with mock.patch.object(launch, "campaign_advance", side_effect=while_running):
        first = tasks.campaign_advance(campaign["id"])
    assert seen == [
        {"campaignId": campaign["id"], "skipped": "another worker advances this campaign"}
    ]
    assert first["done"] and first["frozen"] == 1
    # The lease went with the run: the next tick's run proceeds (nothing left to do).
    assert tasks.campaign_advance(campaign["id"])["done"]


def test_a_paused_campaigns_message_says_it_is_held_with_no_eta(api, account):
    make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    message = messages_of(campaign["id"]).get()
    act(api, campaign["id"], "pause")
    held = api.get(f"/api/onlyfans/messages/{message.pk}").json()
    assert (held["waitingFor"], held["estimatedSendTime"]) == ("held", None)
    act(api, campaign["id"], "resume")
    released = api.get(f"/api/onlyfans/messages/{message.pk}").json()
    assert released["waitingFor"] == "rate_limit"
    assert released["estimatedSendTime"] is not None


def test_a_message_handed_back_after_the_pause_is_held_again_by_the_tick(api, account):
    make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    act(api, campaign["id"], "pause")
    # Being sent at the pause, then given back (no slot, a retry): ready again.
    messages_of(campaign["id"]).update(next_attempt_at=None, wait_reason="")
    services.campaigns_tick()
    assert set(messages_of(campaign["id"]).values_list("next_attempt_at", flat=True)) == {
        delivery.HOLD_UNTIL
    }
    # Resumed, nothing holds it again.
    act(api, campaign["id"], "resume")
    services.campaigns_tick()
    assert delivery.HOLD_UNTIL not in set(
        messages_of(campaign["id"]).values_list("next_attempt_at", flat=True)
    )


def test_a_scheduled_campaign_of_an_inactive_account_waits_to_start(api, account):
    make_fan(account)
    at = timezone.now() + timedelta(minutes=5)
    campaign = create(api, {"filter": {}, "scheduledAt": at.isoformat()})
    act(api, campaign["id"], "launch")
    account.is_active = False
    account.save()
    services.campaigns_tick(now=at + timedelta(seconds=1))
    assert detail(api, campaign["id"])["state"] == "scheduled"
    account.is_active = True
    account.save()
    services.campaigns_tick(now=at + timedelta(seconds=2))
    assert detail(api, campaign["id"])["state"] == "running"


def test_launching_a_running_campaign_is_a_state_conflict_even_from_an_inactive_account(
    api, account
):
    make_fan(account)
    campaign = launch_fully(api, create(api, {"filter": {}})["id"])
    account.is_active = False
    account.save()
    error_of(api.post(f"{CAMPAIGNS}/{campaign['id']}/launch"), 409, "campaign_state_conflict")

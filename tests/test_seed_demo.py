from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from crm.campaigns.models import Campaign, CampaignRecipient
from crm.campaigns.selectors import campaign_progress
from crm.models import Conversation, Fan, Message
from onlyfans.models import OnlyFansAccount, OutboundMessage

MODELS = (
    get_user_model(),
    OnlyFansAccount,
    Fan,
    Conversation,
    Message,
    Campaign,
    CampaignRecipient,
    OutboundMessage,
)


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.mark.django_db
def test_it_creates_the_demo_login_with_one_account_fans_and_conversations(settings):
    settings.DEBUG = True
    call_command("seed_demo")

    User = get_user_model()
    demo = User.objects.get(username="demo")
    assert demo.check_password("demo")
    assert not demo.is_staff and not demo.is_superuser
    admin = User.objects.get(username="admin")
    assert admin.check_password("admin") and admin.is_staff and admin.is_superuser

    account = OnlyFansAccount.objects.get(owner=demo)
    # The seed's curl example sends to fan_123.
    assert account.fans.filter(onlyfans_user_id="fan_123").exists()
    assert account.fans.count() >= 3
    assert account.conversations.count() >= 2
    assert Message.objects.filter(conversation__account=account).count() >= 4


@pytest.mark.django_db
def test_it_is_idempotent(settings):
    settings.DEBUG = True
    call_command("seed_demo")
    first = row_counts()
    call_command("seed_demo")
    assert row_counts() == first


@pytest.mark.django_db
def test_it_restores_the_demo_password(settings):
    settings.DEBUG = True
    call_command("seed_demo")
    demo = get_user_model().objects.get(username="demo")
    demo.set_password("changed")
    demo.save()

    call_command("seed_demo")

    demo.refresh_from_db()
    assert demo.check_password("demo")


@pytest.mark.django_db
def test_it_refuses_to_run_when_debug_is_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG=true"):
        call_command("seed_demo")
    assert all(count == 0 for count in row_counts().values())


@pytest.mark.django_db
def test_it_creates_a_finished_and_a_running_campaign(settings):
    settings.DEBUG = True
    call_command("seed_demo")
    account = OnlyFansAccount.objects.get(owner__username="demo")
    finished, running = (
        Campaign.objects.get(account=account, state=state) for state in ("finished", "running")
    )
    done = campaign_progress(finished)
    assert done.total == account.fans.count() and done.remaining == 0
    assert done.skip_reasons == {"unsubscribed": 1}  # the lapsed fan
    under_way = campaign_progress(running)
    assert 0 < under_way.sent < under_way.total and under_way.remaining > 0
    # One recipient per fan, each message a bulk one that names its campaign.
    for campaign in (finished, running):
        assert campaign.recipients.values("fan").distinct().count() == campaign.recipients.count()
        assert all(m.lane == "bulk" and m.metadata == {"campaignId": campaign.pk}
                   for m in OutboundMessage.objects.filter(
                       campaign_recipient__campaign=campaign))  # fmt: skip

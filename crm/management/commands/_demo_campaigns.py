"""The demo's campaigns (part of seed_demo): one finished two days ago, one running now.

Written as the rows a launch leaves (campaign, one recipient per fan, bulk-lane messages with
`metadata.campaignId`), not through the launch itself, so that seeding never calls Celery,
Redis or SQS before the local stack is up. The running campaign's pending messages are real
pipeline rows: `make run`'s worker delivers them at the bulk pace and the tick then closes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from crm.campaigns.models import Campaign, CampaignRecipient, CampaignState, SkipReason
from crm.models import Conversation, Fan, Message, MessageDirection, SubscriptionStatus
from onlyfans.models import Lane, MessageStatus, OnlyFansAccount, OutboundMessage

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# (name, content, launched minutes ago, {fan: (status, minutes ago)}): fans not listed are
# skipped (not subscribed). The running one's messages also show in their threads.
CAMPAIGNS = [
    (
        "Renewal thank-you",
        "Thank you for staying with me another month 💕 a little gift is on its way",
        60 * 48, CampaignState.FINISHED,
        {"fan_123": ("sent", 60 * 48 - 2), "fan_124": ("sent", 60 * 48 - 9),
         "fan_125": ("sent", 60 * 48 - 16), "fan_126": ("sent", 60 * 48 - 24)},
    ),
    (
        "Weekend bundle", "Weekend bundle: 3 new sets for $15, until Sunday night 🔥",
        20, CampaignState.RUNNING,
        {"fan_125": ("sent", 18), "fan_123": ("sent", 11),
         "fan_126": ("pending", 0), "fan_124": ("pending", 0)},
    ),
]  # fmt: skip
IN_THREADS = {"Weekend bundle": ("fan_125", "fan_126")}


def seed_campaigns(
    demo: User, account: OnlyFansAccount, fans: dict[str, Fan], now: datetime
) -> int:
    """Creates the campaigns not there yet; returns how many it created."""
    created_count = 0
    for name, content, launched_ago, state, outcomes in CAMPAIGNS:
        launched = now - timedelta(minutes=launched_ago)
        campaign, created = Campaign.objects.get_or_create(
            account=account,
            name=name,
            defaults={
                "created_by": demo, "content": content, "rules": {}, "state": state,
                "created_at": launched - timedelta(minutes=5), "launched_at": launched,
                "audience": {"rules": {}, "include": [], "exclude": []},
                "audience_frozen_at": launched, "messages_created_at": launched,
                "freeze_cursor": max(fan.pk for fan in fans.values()),
                "finished_at": (launched + timedelta(minutes=30)
                                if state == CampaignState.FINISHED else None),
            },
        )  # fmt: skip
        if not created:
            continue
        created_count += 1
        for fan_id, fan in sorted(fans.items()):
            recipient = CampaignRecipient(
                campaign=campaign, fan=fan, recipient_id=fan_id, created_at=launched
            )
            if fan_id not in outcomes or fan.subscription_status != SubscriptionStatus.ACTIVE:
                recipient.skip_reason = SkipReason.UNSUBSCRIBED
                recipient.save()
                continue
            status, minutes_ago = outcomes[fan_id]
            when = now - timedelta(minutes=minutes_ago)
            recipient.message = OutboundMessage.objects.create(
                account=account, sender=demo, recipient_id=fan_id, content=content, lane=Lane.BULK,
                metadata={"campaignId": campaign.pk}, status=status, queued_at=launched,
                sent_at=when if status == MessageStatus.SENT else None,
                estimated_send_time=when,
            )  # fmt: skip
            recipient.save()
            if fan_id in IN_THREADS.get(name, ()):
                conversation, _ = Conversation.objects.get_or_create(account=account, fan=fan)
                Message.objects.create(
                    conversation=conversation, direction=MessageDirection.OUTBOUND, content=content,
                    sent_at=when, outbound=recipient.message,
                )  # fmt: skip
    return created_count

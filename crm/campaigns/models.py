"""The campaign models: a campaign and its frozen recipients. Django registers them through
`crm.models`, which imports this module; they keep the `crm` app label and its tables."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from onlyfans.models import OnlyFansAccount, OutboundMessage


class CampaignState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    FINISHED = "finished", "Finished"
    CANCELLED = "cancelled", "Cancelled"


# Launched and not final: its launch goes on (a paused one's new messages are held), its
# recipients can still be skipped. Not launched yet: its audience is still a live query.
LAUNCHED = (CampaignState.RUNNING, CampaignState.PAUSED)
NOT_LAUNCHED = (CampaignState.DRAFT, CampaignState.SCHEDULED)


class Campaign(models.Model):
    """One message to many fans of one account, sent in the pipeline's bulk lane.

    Launching freezes the audience (a segment or inline rules, evaluated then) into one
    CampaignRecipient per fan, then creates their messages in batches (crm.campaigns).
    """

    account = models.ForeignKey(OnlyFansAccount, on_delete=models.CASCADE, related_name="campaigns")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    name = models.CharField(max_length=120)
    content = models.TextField()
    media_urls = models.JSONField(default=list, blank=True)
    segment = models.ForeignKey(
        "crm.Segment", on_delete=models.SET_NULL, null=True, blank=True, related_name="campaigns"
    )
    # Inline audience rules (the fans list's filters) when no segment is named.
    rules = models.JSONField(null=True, blank=True)
    # The audience as launched: {"rules": …, "include": […], "exclude": […]}, so that editing the
    # segment afterwards changes nothing for this campaign.
    audience = models.JSONField(null=True, blank=True, editable=False)
    skip_if_replied_within_minutes = models.PositiveIntegerField(default=30)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(
        max_length=16, choices=CampaignState.choices, default=CampaignState.DRAFT
    )
    launched_at = models.DateTimeField(null=True, blank=True)
    # Launch progress: fans with an id up to this one have their recipient row.
    freeze_cursor = models.BigIntegerField(default=0, editable=False)
    audience_frozen_at = models.DateTimeField(null=True, blank=True)
    messages_created_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["account", "created_at", "id"], name="campaign_list_idx"),
            # campaigns_tick (beat): scheduled launches due, launches to finish, campaigns to close.
            models.Index(
                fields=["state", "scheduled_at"],
                name="campaign_active_idx",
                condition=Q(state__in=["scheduled", "running", "paused"]),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SkipReason(models.TextChoices):
    REPLIED_RECENTLY = "replied_recently", "A chatter wrote to this fan shortly before"
    UNSUBSCRIBED = "unsubscribed", "Not subscribed (any more)"
    FAN_DELETED = "fan_deleted", "The fan was deleted"


class CampaignRecipient(models.Model):
    """One fan of a launched campaign: at most one per campaign (the unique constraint), so no
    fan gets a campaign twice, whatever crashes or repeated launch calls happen."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="recipients", db_index=False
    )
    fan = models.ForeignKey("crm.Fan", on_delete=models.SET_NULL, null=True, related_name="+")
    # The fan's OnlyFans user id at launch: who the message is for, even if the fan is deleted.
    recipient_id = models.CharField(max_length=64)
    message = models.OneToOneField(
        OutboundMessage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="campaign_recipient",
    )
    skip_reason = models.CharField(max_length=32, choices=SkipReason.choices, blank=True)
    cancelled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "recipient_id"], name="campaign_recipient_once"
            ),
        ]
        indexes = [
            # The recipients list, in launch order.
            models.Index(fields=["campaign", "id"], name="campaign_recipient_idx"),
            # Launch: recipients still waiting for their message.
            models.Index(
                fields=["campaign", "id"],
                name="campaign_recipient_todo_idx",
                condition=Q(message__isnull=True, skip_reason="", cancelled=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id} in campaign {self.campaign_id}"

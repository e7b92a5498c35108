"""Campaigns: one message to a segment of fans, paced in the pipeline's bulk lane.

States: draft → scheduled → running ⇄ paused → finished | cancelled. Every transition is one
conditional UPDATE on the state (`_transition`), so two calls racing change it once and the
other gets a 409 `campaign_state_conflict`.

Launching (now, or at `scheduled_at` by `campaigns_tick`) snapshots the audience and moves the
campaign to `running`; `launch.campaign_advance` then does the work in short batches, each its own
transaction, never holding one across SQS: first it freezes the audience into CampaignRecipient
rows (keyset over fan ids, `freeze_cursor`; the unique (campaign, recipient) constraint makes a
crashed or repeated batch harmless), then it creates the recipients' bulk-lane messages, skipping
the fans a chatter wrote to shortly before and those no longer subscribed. A crash anywhere
resumes where it stopped: the next tick calls `campaign_advance` again.

A campaign is `finished` only when every recipient is final: sent, failed, skipped (with its
reason) or cancelled.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from crm.campaigns import delivery as pipeline
from crm.campaigns.models import LAUNCHED, Campaign, CampaignRecipient, CampaignState, SkipReason
from crm.campaigns.selectors import resolve_audience
from crm.models import Fan, Segment
from huntaze.core.errors import ApplicationError, Conflict
from onlyfans import services as onlyfans_services
from onlyfans.models import OnlyFansAccount

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from onlyfans.models import OutboundMessage

logger = logging.getLogger(__name__)

_ALLOWED_FROM = {
    "launch": (CampaignState.DRAFT,),
    "start": (CampaignState.DRAFT, CampaignState.SCHEDULED),
    "pause": (CampaignState.RUNNING,),
    "resume": (CampaignState.PAUSED,),
    "cancel": (
        CampaignState.DRAFT,
        CampaignState.SCHEDULED,
        CampaignState.RUNNING,
        CampaignState.PAUSED,
    ),
    # Paused with every recipient final (paused after its last send): nothing is left to hold.
    "finish": (CampaignState.RUNNING, CampaignState.PAUSED),
}
_VERBS = {
    "launch": "launched",
    "start": "started",
    "pause": "paused",
    "resume": "resumed",
    "cancel": "cancelled",
}


class CampaignStateConflict(Conflict):
    code = "campaign_state_conflict"


def _transition(campaign: Campaign, *, action: str, to: str, **fields: Any) -> Campaign:
    updated = Campaign.objects.filter(pk=campaign.pk, state__in=_ALLOWED_FROM[action]).update(
        state=to, updated_at=timezone.now(), **fields
    )
    campaign.refresh_from_db()
    if not updated:
        raise CampaignStateConflict(
            f"A {campaign.state} campaign cannot be {_VERBS.get(action, action)}.",
            details={"state": [campaign.state]},
        )
    logger.info(
        "CRM campaign state", extra={"campaignId": campaign.pk, "action": action, "state": to}
    )
    return campaign


# --- Writes ---------------------------------------------------------------------------------------
def campaign_create(
    *, account: OnlyFansAccount, user: User | AnonymousUser, data: dict[str, Any]
) -> Campaign:
    segment: Segment | None = data.get("segment")
    campaign = Campaign.objects.create(
        account=account,
        # Signed in (the views say so); request.user's type still includes AnonymousUser.
        created_by=user,  # type: ignore[misc]
        name=data["name"],
        content=data["content"],
        media_urls=list(data.get("media_urls", [])),
        segment=segment,
        rules=None if segment is not None else data.get("rules", {}),
        scheduled_at=data.get("scheduled_at"),
        skip_if_replied_within_minutes=data.get("skip_if_replied_within_minutes", 30),
    )
    logger.info("CRM campaign created", extra={"campaignId": campaign.pk, "accountId": account.pk})
    return campaign


def campaign_create_from_input(*, user: User | AnonymousUser, data: dict[str, Any]) -> Campaign:
    """A campaign from a validated create body (CampaignCreateInputSerializer), its account and
    segment among the user's: what the API and the create page both call."""
    account, segment = resolve_audience(user=user, data=data)
    fields = {k: v for k, v in data.items() if k not in ("segmentId", "accountId")}
    if segment is not None:
        fields["segment"] = segment
    return campaign_create(account=account, user=user, data=fields)


def _ensure_can_send(campaign: Campaign) -> None:
    """Refused as a send is: the limiter disabled (503), the account inactive (409); launched
    anyway, its messages would wait with no word of why."""
    onlyfans_services.ensure_enabled()
    onlyfans_services.ensure_account_active(campaign.account)


def campaign_launch(*, campaign: Campaign) -> Campaign:
    """Launch now, or schedule it when `scheduled_at` is still ahead (`campaigns_tick` starts
    it)."""
    if campaign.state in _ALLOWED_FROM["launch"]:  # else the state's 409 says more
        _ensure_can_send(campaign)
    if campaign.scheduled_at is not None and campaign.scheduled_at > timezone.now():
        return _transition(campaign, action="launch", to=CampaignState.SCHEDULED)
    return _start(campaign)


def _audience_snapshot(campaign: Campaign) -> dict[str, Any]:
    segment = campaign.segment  # no query when there is none
    if segment is None:
        # No rules and no segment: its segment was deleted, and it reaches no one (never "every
        # fan", which its own empty filter {} means).
        return {"rules": campaign.rules, "include": [], "exclude": []}
    return {
        "rules": segment.rules,
        "include": sorted(segment.included_fans.values_list("pk", flat=True)),
        "exclude": sorted(segment.excluded_fans.values_list("pk", flat=True)),
    }


def _start(campaign: Campaign) -> Campaign:
    campaign = _transition(
        campaign,
        action="start",
        to=CampaignState.RUNNING,
        launched_at=timezone.now(),
        audience=_audience_snapshot(campaign),
    )
    pipeline.advance_soon(campaign.pk)
    return campaign


# Pause, resume and cancel change the state and its messages in one transaction: a crash in
# between cannot leave a paused campaign sending or a cancelled one with messages queued. The
# campaign's row is locked first (the state's UPDATE), as a launch batch does.
@transaction.atomic
def campaign_pause(*, campaign: Campaign) -> Campaign:
    campaign = _transition(
        campaign, action="pause", to=CampaignState.PAUSED, paused_at=timezone.now()
    )
    held = pipeline.hold(_unsent_messages(campaign))
    logger.info("CRM campaign paused", extra={"campaignId": campaign.pk, "held": held})
    return campaign


@transaction.atomic
def campaign_resume(*, campaign: Campaign) -> Campaign:
    if campaign.state in _ALLOWED_FROM["resume"]:
        _ensure_can_send(campaign)
    campaign = _transition(campaign, action="resume", to=CampaignState.RUNNING, paused_at=None)
    pipeline.release(_unsent_messages(campaign), account=campaign.account)
    pipeline.advance_soon(campaign.pk)
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> Campaign:
    campaign = _transition(
        campaign, action="cancel", to=CampaignState.CANCELLED, cancelled_at=timezone.now()
    )
    cancelled = pipeline.cancel(_unsent_messages(campaign))
    # Recipients without a message yet never get one.
    campaign.recipients.filter(message__isnull=True, skip_reason="").update(cancelled=True)
    logger.info(
        "CRM campaign cancelled", extra={"campaignId": campaign.pk, "messagesCancelled": cancelled}
    )
    return campaign


def _unsent_messages(campaign: Campaign) -> QuerySet[OutboundMessage]:
    return pipeline.unsent(campaign.recipients.filter(message__isnull=False).values("message_id"))


def recipients_skip_for_fan(*, fan: Fan, reason: str) -> int:
    """A fan who stopped being a good recipient (unsubscribed, or a chatter just wrote to them):
    their unsent campaign messages are cancelled and the recipients say why."""
    recipients = CampaignRecipient.objects.filter(
        fan=fan,
        skip_reason="",
        cancelled=False,
        campaign__state__in=LAUNCHED,
    )
    if reason == SkipReason.REPLIED_RECENTLY:
        recipients = recipients.filter(campaign__skip_if_replied_within_minutes__gt=0)
    ids = list(recipients.values_list("pk", "message_id"))
    if not ids:
        return 0
    cancelled_messages = pipeline.cancelled_ids(pipeline.unsent([m for _, m in ids if m]))
    skippable = [
        pk for pk, message_id in ids if message_id is None or message_id in cancelled_messages
    ]
    return CampaignRecipient.objects.filter(pk__in=skippable).update(skip_reason=reason)


# --- The beat's tick ------------------------------------------------------------------------------
def campaigns_tick(*, now: datetime | None = None) -> dict[str, int]:
    """Start scheduled campaigns whose time has come, push unfinished launches on, and close the
    campaigns whose every recipient is final. Run every couple of seconds by beat."""
    now = now or timezone.now()
    started = 0
    due = Campaign.objects.select_related("account").filter(
        state=CampaignState.SCHEDULED, scheduled_at__lte=now
    )
    for campaign in due:
        try:
            # An inactive account, the limiter off: it stays scheduled, and starts once it can.
            _ensure_can_send(campaign)
        except ApplicationError:
            continue
        try:
            _start(campaign)
            started += 1
        except CampaignStateConflict:
            pass  # cancelled or started by someone else meanwhile
    # A message being sent when its campaign was paused and handed back since (no slot, a
    # retry) is ready again: held once more here, within a tick.
    for campaign_id in Campaign.objects.filter(state=CampaignState.PAUSED).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            # Under the campaign's row lock, as pause and resume: a resume that commits first
            # finds nothing held behind it.
            paused = (
                Campaign.objects.select_for_update()
                .filter(pk=campaign_id, state=CampaignState.PAUSED)
                .first()
            )
            if paused is not None:
                pipeline.hold(_unsent_messages(paused))
    launching = Campaign.objects.filter(
        Q(audience_frozen_at__isnull=True) | Q(messages_created_at__isnull=True),
        state__in=LAUNCHED,
    ).values_list("pk", flat=True)
    for campaign_id in launching:
        pipeline.advance_soon(campaign_id)
    finished = 0
    for campaign in Campaign.objects.filter(
        state__in=_ALLOWED_FROM["finish"], messages_created_at__isnull=False
    ):
        if not open_recipients(campaign).exists():
            try:
                _transition(campaign, action="finish", to=CampaignState.FINISHED, finished_at=now)
                finished += 1
            except CampaignStateConflict:
                pass
    return {"started": started, "launching": len(launching), "finished": finished}


def open_recipients(campaign: Campaign) -> QuerySet[CampaignRecipient]:
    """Recipients not yet final: no message yet (and not skipped or cancelled), or a message
    still on its way."""
    return campaign.recipients.filter(
        Q(message__isnull=True, skip_reason="", cancelled=False)
        | Q(message__status__in=pipeline.NOT_FINAL, skip_reason="")
    )

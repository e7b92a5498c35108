"""Campaigns: one message to a segment of fans, paced in the pipeline's bulk lane.

States: draft → scheduled → running ⇄ paused → finished | cancelled. Every transition is one
conditional UPDATE on the state (`_transition`), so two calls racing change it once and the
other gets a 409 `campaign_state_conflict`.

Launching (now, or at `scheduled_at` by `campaigns_tick`) snapshots the audience and moves the
campaign to `running`; `campaign_advance` then does the work in short batches, each its own
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
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from crm.campaigns import delivery as pipeline
from crm.models import (
    Campaign,
    CampaignRecipient,
    CampaignState,
    Conversation,
    Fan,
    Message,
    MessageDirection,
    Segment,
    SkipReason,
    SubscriptionStatus,
)
from crm.selectors import audience_members
from huntaze.core.errors import Conflict
from huntaze.core.sql import concrete_field, insert_values
from onlyfans.models import OnlyFansAccount

logger = logging.getLogger(__name__)

# Rows per batch: short transactions (well under a second each), within SQLite's statement
# limits. Each message batch costs a fixed number of statements, so fewer, larger ones win.
FREEZE_BATCH = 5000
MESSAGE_BATCH = 5000
# Pairs per UPDATE when linking recipients to their messages (2 parameters each).
LINK_CHUNK = 1000

_ALLOWED_FROM = {
    "launch": (CampaignState.DRAFT,),
    "start": (CampaignState.DRAFT, CampaignState.SCHEDULED),
    "pause": (CampaignState.RUNNING,),
    "resume": (CampaignState.PAUSED,),
    "cancel": (CampaignState.DRAFT, CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.PAUSED),
    "finish": (CampaignState.RUNNING,),
}
_VERBS = {"launch": "launched", "start": "started", "pause": "paused", "resume": "resumed", "cancel": "cancelled"}


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
    logger.info("CRM campaign state", extra={"campaignId": campaign.pk, "action": action, "state": to})
    return campaign


# --- Writes ---------------------------------------------------------------------------------------
def campaign_create(*, account: OnlyFansAccount, user, data: dict[str, Any]) -> Campaign:
    segment: Segment | None = data.get("segment")
    campaign = Campaign.objects.create(
        account=account,
        created_by=user,
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


def campaign_launch(*, campaign: Campaign) -> Campaign:
    """Launch now, or schedule it when `scheduled_at` is still ahead (`campaigns_tick` starts it)."""
    if campaign.scheduled_at is not None and campaign.scheduled_at > timezone.now():
        return _transition(campaign, action="launch", to=CampaignState.SCHEDULED)
    return _start(campaign)


def _audience_snapshot(campaign: Campaign) -> dict[str, Any]:
    segment = campaign.segment  # no query when there is none
    if segment is None:
        return {"rules": campaign.rules if campaign.rules is not None else {}, "include": [], "exclude": []}
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


def campaign_pause(*, campaign: Campaign) -> Campaign:
    campaign = _transition(campaign, action="pause", to=CampaignState.PAUSED, paused_at=timezone.now())
    held = pipeline.hold(_unsent_messages(campaign))
    logger.info("CRM campaign paused", extra={"campaignId": campaign.pk, "held": held})
    return campaign


def campaign_resume(*, campaign: Campaign) -> Campaign:
    campaign = _transition(campaign, action="resume", to=CampaignState.RUNNING, paused_at=None)
    pipeline.release(_unsent_messages(campaign), account=campaign.account)
    pipeline.advance_soon(campaign.pk)
    return campaign


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    campaign = _transition(campaign, action="cancel", to=CampaignState.CANCELLED, cancelled_at=timezone.now())
    cancelled = pipeline.cancel(_unsent_messages(campaign))
    # Recipients without a message yet never get one.
    campaign.recipients.filter(message__isnull=True, skip_reason="").update(cancelled=True)
    logger.info("CRM campaign cancelled", extra={"campaignId": campaign.pk, "messagesCancelled": cancelled})
    return campaign


def _unsent_messages(campaign: Campaign):
    return pipeline.unsent(campaign.recipients.filter(message__isnull=False).values("message_id"))


# --- The launch, in batches -----------------------------------------------------------------------
@dataclass
class Progress:
    frozen: int = 0
    created: int = 0
    skipped: int = 0
    done: bool = False


def campaign_advance(campaign_id: int, *, budget_seconds: float = 20.0) -> Progress:
    """Freeze the audience, then create the messages, batch by batch, until done or out of time.
    Safe to run twice at once and to resume after a crash."""
    progress = Progress()
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        campaign = Campaign.objects.select_related("account").filter(pk=campaign_id).first()
        if campaign is None or campaign.state not in (CampaignState.RUNNING, CampaignState.PAUSED):
            progress.done = True
            break
        if campaign.audience_frozen_at is None:
            progress.frozen += _freeze_batch(campaign)
        elif campaign.messages_created_at is None:
            created, skipped = _create_batch(campaign)
            progress.created += created
            progress.skipped += skipped
        else:
            progress.done = True
            break
    return progress


def _freeze_batch(campaign: Campaign) -> int:
    audience = campaign.audience or {"rules": {}, "include": [], "exclude": []}
    fans = list(
        audience_members(
            account_id=campaign.account_id,
            rules=audience["rules"],
            include=audience["include"],
            exclude=audience["exclude"],
            after=campaign.freeze_cursor,
        )
        .filter(pk__gt=campaign.freeze_cursor)
        .order_by("pk")
        .values_list("pk", "onlyfans_user_id")[:FREEZE_BATCH]
    )
    now = timezone.now()
    with transaction.atomic():
        _insert_recipients(campaign.pk, fans, now)
        moved = {"freeze_cursor": fans[-1][0]} if fans else {"audience_frozen_at": now}
        # Only from the cursor this batch started at: a concurrent run's batch counts once.
        Campaign.objects.filter(pk=campaign.pk, freeze_cursor=campaign.freeze_cursor).update(**moved)
    return len(fans)


_RECIPIENT_COLUMNS = ("campaign", "fan", "recipient_id", "skip_reason", "cancelled", "created_at")


def _insert_recipients(campaign_id: int, fans: list[tuple[int, str]], now: datetime) -> None:
    """One recipient row per fan; a row already there (a crashed or concurrent batch) is left
    alone by the unique (campaign, recipient) constraint. A plain multi-row INSERT: Django's
    bulk_create prepares each field of each row in Python, which costs more than the database's
    own work at 100,000 fans."""
    if not fans:
        return
    fields = [concrete_field(CampaignRecipient, name) for name in _RECIPIENT_COLUMNS]
    created_at = fields[-1].get_db_prep_value(now, connection)
    insert_values(
        CampaignRecipient,
        fields,
        [(campaign_id, pk, user_id, "", False, created_at) for pk, user_id in fans],
        ignore_conflicts=True,
    )


def _recently_written_to(campaign: Campaign, fan_ids: list[int]) -> set[int]:
    minutes = campaign.skip_if_replied_within_minutes
    if not minutes or not fan_ids:
        return set()
    since = timezone.now() - timedelta(minutes=minutes)
    return set(
        Message.objects.filter(
            conversation__fan_id__in=fan_ids,
            direction=MessageDirection.OUTBOUND,
            sent_at__gte=since,
        )
        .exclude(outbound__lane=pipeline.BULK)
        .values_list("conversation__fan_id", flat=True)
    )


def _create_batch(campaign: Campaign) -> tuple[int, int]:
    # Tuples, not instances: this runs for every recipient of the campaign.
    todo = list(
        campaign.recipients.filter(message__isnull=True, skip_reason="", cancelled=False)
        .order_by("id")
        .values_list("id", "fan_id", "recipient_id", "fan__subscription_status")[:MESSAGE_BATCH]
    )
    if not todo:
        Campaign.objects.filter(pk=campaign.pk, messages_created_at__isnull=True).update(
            messages_created_at=timezone.now()
        )
        return 0, 0
    written_to = _recently_written_to(campaign, [fan_id for _, fan_id, _, _ in todo if fan_id])
    skips: dict[str, list[int]] = {}
    to_send: list[tuple[int, str]] = []
    for pk, fan_id, recipient_id, subscription_status in todo:
        if fan_id is None:
            skips.setdefault(SkipReason.FAN_DELETED, []).append(pk)
        elif subscription_status != SubscriptionStatus.ACTIVE:
            skips.setdefault(SkipReason.UNSUBSCRIBED, []).append(pk)
        elif fan_id in written_to:
            skips.setdefault(SkipReason.REPLIED_RECENTLY, []).append(pk)
        else:
            to_send.append((pk, recipient_id))
    with transaction.atomic():
        # The campaign's row first: a pause or a resume (an UPDATE of that row) waits for this
        # batch, or this batch for it, so its messages are held exactly when the campaign is
        # paused at its commit and a pause or a release that follows sees them all.
        paused = (
            Campaign.objects.select_for_update().filter(pk=campaign.pk).values_list("state", flat=True).get()
            == CampaignState.PAUSED
        )
        # Locked and re-read: a concurrent run that created these messages first wins.
        fresh = set(
            CampaignRecipient.objects.select_for_update()
            .filter(pk__in=[pk for pk, *_ in todo], message__isnull=True, skip_reason="", cancelled=False)
            .values_list("pk", flat=True)
        )
        to_send = [(pk, recipient_id) for pk, recipient_id in to_send if pk in fresh]
        for reason, ids in skips.items():
            CampaignRecipient.objects.filter(pk__in=[pk for pk in ids if pk in fresh]).update(skip_reason=reason)
        messages = pipeline.create_bulk(
            account=campaign.account,
            sender=campaign.created_by,
            recipient_ids=[recipient_id for _, recipient_id in to_send],
            content=campaign.content,
            media_urls=campaign.media_urls,
            metadata={"campaignId": campaign.pk},
            held=paused,
        )
        _link_messages([(pk, message_id) for (pk, _), message_id in zip(to_send, messages, strict=True)])
        _add_to_threads(campaign, [pk for pk, _ in to_send])
        if messages and not paused:
            pipeline.arm(campaign.account, len(messages))  # last: it locks the account's rows
    return len(to_send), sum(len(ids) for ids in skips.values())


def _add_to_threads(campaign: Campaign, recipient_pks: list[int]) -> None:
    """Each new campaign message also goes into its fan's thread (the inbox marks it as the
    campaign's), as a message written from the composer does: a conversation for a fan who has
    none yet, then one outbound thread message per recipient, two INSERT … SELECT statements.
    Existing conversations keep their place in the inbox: a mass send does not push thousands of
    chats to the top. Idempotent: a thread message is unique per pipeline message."""
    if not recipient_pks:
        return
    now = timezone.now()
    quote = connection.ops.quote_name
    recipients, conversations, thread = (
        quote(model._meta.db_table) for model in (CampaignRecipient, Conversation, Message)
    )
    when = Message._meta.get_field("sent_at").get_db_prep_value(now, connection)
    media = Message._meta.get_field("media_urls").get_db_prep_value(list(campaign.media_urls), connection)
    ids = ", ".join(["%s"] * len(recipient_pks))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {conversations} (account_id, fan_id, last_message_preview, last_message_direction, "
            f"last_activity_at, unread_count, pinned, archived, created_at, updated_at) "
            f"SELECT %s, r.fan_id, '', '', %s, 0, %s, %s, %s, %s FROM {recipients} r "
            f"WHERE r.id IN ({ids}) AND r.fan_id IS NOT NULL ON CONFLICT DO NOTHING",
            [campaign.account_id, when, False, False, when, when, *recipient_pks],
        )
        cursor.execute(
            f"INSERT INTO {thread} (conversation_id, direction, content, media_urls, sent_at, outbound_id, created_at) "
            # A correlated lookup on the conversation's unique (account, fan) index: as a JOIN,
            # SQLite's planner scanned the conversations once per recipient.
            f"SELECT (SELECT c.id FROM {conversations} c WHERE c.account_id = %s AND c.fan_id = r.fan_id), "
            f"%s, %s, %s, %s, r.message_id, %s FROM {recipients} r "
            f"WHERE r.id IN ({ids}) AND r.message_id IS NOT NULL AND r.fan_id IS NOT NULL ON CONFLICT DO NOTHING",
            [campaign.account_id, MessageDirection.OUTBOUND, campaign.content, media, when, when, *recipient_pks],
        )


def _link_messages(pairs: list[tuple[int, Any]]) -> None:
    """recipient.message = message for each (recipient id, message id) in one UPDATE … FROM a
    list of pairs: Django's bulk_update builds a CASE of one WHEN per row, which costs more to
    build than the rest of the batch. PostgreSQL gets two arrays (see huntaze.core.sql for why),
    SQLite (>= 3.33) a VALUES list."""
    if not pairs:
        return
    table = CampaignRecipient._meta.db_table
    field = CampaignRecipient._meta.get_field("message").target_field
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET message_id = v.message_id FROM unnest(%s::bigint[], %s::uuid[]) AS v (id, message_id) "
                f"WHERE {table}.id = v.id",
                [[pk for pk, _ in pairs], [message_id for _, message_id in pairs]],
            )
            return
        for start in range(0, len(pairs), LINK_CHUNK):
            chunk = pairs[start : start + LINK_CHUNK]
            params: list[Any] = []
            for recipient_id, message_id in chunk:
                params += [recipient_id, field.get_db_prep_value(message_id, connection)]
            values = ", ".join(["(%s, %s)"] * len(chunk))
            cursor.execute(
                f"WITH v (id, message_id) AS (VALUES {values}) "
                f"UPDATE {table} SET message_id = v.message_id FROM v WHERE {table}.id = v.id",
                params,
            )


def recipients_skip_for_fan(*, fan: Fan, reason: str) -> int:
    """A fan who stopped being a good recipient (unsubscribed, or a chatter just wrote to them):
    their unsent campaign messages are cancelled and the recipients say why."""
    recipients = CampaignRecipient.objects.filter(
        fan=fan, skip_reason="", cancelled=False, campaign__state__in=[CampaignState.RUNNING, CampaignState.PAUSED]
    )
    if reason == SkipReason.REPLIED_RECENTLY:
        recipients = recipients.filter(campaign__skip_if_replied_within_minutes__gt=0)
    ids = list(recipients.values_list("pk", "message_id"))
    if not ids:
        return 0
    cancelled_messages = pipeline.cancelled_ids(pipeline.unsent([m for _, m in ids if m]))
    skippable = [pk for pk, message_id in ids if message_id is None or message_id in cancelled_messages]
    return CampaignRecipient.objects.filter(pk__in=skippable).update(skip_reason=reason)


# --- The beat's tick ------------------------------------------------------------------------------
def campaigns_tick(*, now: datetime | None = None) -> dict[str, int]:
    """Start scheduled campaigns whose time has come, push unfinished launches on, and close the
    campaigns whose every recipient is final. Run every couple of seconds by beat."""
    now = now or timezone.now()
    started = 0
    for campaign in Campaign.objects.filter(state=CampaignState.SCHEDULED, scheduled_at__lte=now):
        try:
            _start(campaign)
            started += 1
        except CampaignStateConflict:
            pass  # cancelled or started by someone else meanwhile
    launching = Campaign.objects.filter(
        Q(audience_frozen_at__isnull=True) | Q(messages_created_at__isnull=True),
        state__in=[CampaignState.RUNNING, CampaignState.PAUSED],
    ).values_list("pk", flat=True)
    for campaign_id in launching:
        pipeline.advance_soon(campaign_id)
    finished = 0
    for campaign in Campaign.objects.filter(state=CampaignState.RUNNING, messages_created_at__isnull=False):
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

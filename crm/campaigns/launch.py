"""A campaign's launch, in batches: `campaign_advance`, which the `crm.tasks.campaign_advance`
task runs (queued at launch, and again by `campaigns_tick` until done). Each batch is its own
short transaction, never held across SQS. First the audience is frozen into CampaignRecipient
rows (keyset over fan ids, `freeze_cursor`; the unique (campaign, recipient) constraint makes a
crashed or repeated batch harmless), then the recipients' bulk-lane messages are created,
skipping the fans a chatter wrote to shortly before and those no longer subscribed. A crash
anywhere resumes where it stopped."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from crm.campaigns import delivery as pipeline
from crm.campaigns.models import Campaign, CampaignRecipient, CampaignState, SkipReason
from crm.models import Conversation, Message, MessageDirection, SubscriptionStatus
from crm.selectors import audience_members
from huntaze.core.sql import concrete_field, insert_values

# Rows per batch: short transactions (well under a second each), within SQLite's statement
# limits. Each message batch costs a fixed number of statements, so fewer, larger ones win.
FREEZE_BATCH = 5000
MESSAGE_BATCH = 5000
# Pairs per UPDATE when linking recipients to their messages (2 parameters each).
LINK_CHUNK = 1000


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
        Campaign.objects.filter(pk=campaign.pk, freeze_cursor=campaign.freeze_cursor).update(
            **moved
        )
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
            Campaign.objects.select_for_update()
            .filter(pk=campaign.pk)
            .values_list("state", flat=True)
            .get()
            == CampaignState.PAUSED
        )
        # Locked and re-read: a concurrent run that created these messages first wins.
        fresh = set(
            CampaignRecipient.objects.select_for_update()
            .filter(
                pk__in=[pk for pk, *_ in todo],
                message__isnull=True,
                skip_reason="",
                cancelled=False,
            )
            .values_list("pk", flat=True)
        )
        to_send = [(pk, recipient_id) for pk, recipient_id in to_send if pk in fresh]
        for reason, ids in skips.items():
            CampaignRecipient.objects.filter(pk__in=[pk for pk in ids if pk in fresh]).update(
                skip_reason=reason
            )
        messages = pipeline.create_bulk(
            account=campaign.account,
            sender=campaign.created_by,
            recipient_ids=[recipient_id for _, recipient_id in to_send],
            content=campaign.content,
            media_urls=campaign.media_urls,
            metadata={"campaignId": campaign.pk},
            held=paused,
        )
        _link_messages(
            [(pk, message_id) for (pk, _), message_id in zip(to_send, messages, strict=True)]
        )
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
    media = Message._meta.get_field("media_urls").get_db_prep_value(
        list(campaign.media_urls), connection
    )
    ids = ", ".join(["%s"] * len(recipient_pks))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {conversations} (account_id, fan_id, last_message_preview, "
            f"last_message_direction, last_activity_at, unread_count, pinned, archived, "
            f"created_at, updated_at) "
            f"SELECT %s, r.fan_id, '', '', %s, 0, %s, %s, %s, %s FROM {recipients} r "
            f"WHERE r.id IN ({ids}) AND r.fan_id IS NOT NULL ON CONFLICT DO NOTHING",
            [campaign.account_id, when, False, False, when, when, *recipient_pks],
        )
        cursor.execute(
            f"INSERT INTO {thread} (conversation_id, direction, content, media_urls, sent_at, "
            f"outbound_id, created_at) "
            # A correlated lookup on the conversation's unique (account, fan) index: as a JOIN,
            # SQLite's planner scanned the conversations once per recipient.
            f"SELECT (SELECT c.id FROM {conversations} c "
            f"WHERE c.account_id = %s AND c.fan_id = r.fan_id), "
            f"%s, %s, %s, %s, r.message_id, %s FROM {recipients} r "
            f"WHERE r.id IN ({ids}) AND r.message_id IS NOT NULL AND r.fan_id IS NOT NULL "
            f"ON CONFLICT DO NOTHING",
            [
                campaign.account_id,
                MessageDirection.OUTBOUND,
                campaign.content,
                media,
                when,
                when,
                *recipient_pks,
            ],
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
                f"UPDATE {table} SET message_id = v.message_id "
                f"FROM unnest(%s::bigint[], %s::uuid[]) AS v (id, message_id) "
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

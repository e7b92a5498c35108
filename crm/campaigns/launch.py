"""A campaign's launch, in batches: `campaign_advance`, which the `crm.tasks.campaign_advance`
task runs (queued at launch, and again by `campaigns_tick` until done). Each batch is its own
short transaction, never held across SQS. First the audience is frozen into CampaignRecipient
rows (keyset over fan ids, `freeze_cursor`), each batch writing its recipients already linked to
their bulk-lane messages, the messages and their thread entries together, skipping the fans a
chatter wrote to shortly before and those no longer subscribed. The unique (campaign, recipient)
constraint and the messages' ids, derived from (campaign, fan), make a crashed or repeated batch
harmless: a crash anywhere resumes where it stopped."""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_redis import get_redis_connection
from redis.exceptions import LockError, RedisError

from crm.campaigns import delivery as pipeline
from crm.campaigns import threads
from crm.campaigns.models import LAUNCHED, Campaign, CampaignRecipient, CampaignState, SkipReason
from crm.models import Conversation, Fan, Message, MessageDirection, unreachable_fans
from crm.selectors import audience_members
from huntaze.core.sql import in_ids, rows_from
from onlyfans.models import OutboundMessage

# Rows per batch: short transactions (well under a second each). Each batch costs a fixed number
# of statements, so fewer, larger ones win. FREEZE_BATCH counts the fans examined (a window of
# the account's fans), each batch writing their recipients, messages and thread entries: about
# 0.5 s per transaction on PostgreSQL at 5,000 (10,000: over 1 s, and no faster overall).
# MESSAGE_BATCH: the recipients `_create_batch` links, those the freeze left without a message.
FREEZE_BATCH = 5000
MESSAGE_BATCH = 5000


@dataclass
class Progress:
    frozen: int = 0
    created: int = 0
    skipped: int = 0
    done: bool = False


def campaign_advance(campaign_id: int, *, budget_seconds: float = 20.0) -> Progress:
    """Freeze the audience and create its messages, batch by batch, until done or out of time.
    Safe to run twice at once and to resume after a crash."""
    progress = Progress()
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        campaign = Campaign.objects.select_related("account").filter(pk=campaign_id).first()
        if campaign is None or campaign.state not in LAUNCHED:
            progress.done = True
            break
        if campaign.audience_frozen_at is None:
            frozen, created, skipped = _freeze_batch(campaign)
            progress.frozen += frozen
            progress.created += created
            progress.skipped += skipped
        elif campaign.messages_created_at is None:
            # Since the freeze creates the messages, this finds nothing left and marks the
            # campaign so; it still links a recipient frozen without one (frozen by an earlier
            # version of the launch, or its link lost).
            created, skipped = _create_batch(campaign)
            progress.created += created
            progress.skipped += skipped
        else:
            progress.done = True
            break
    return progress


def campaign_advance_exclusive(
    campaign_id: int, *, budget_seconds: float = 20.0
) -> Progress | None:
    """`campaign_advance`, unless another worker already runs it for this campaign (a Redis lease
    for the budget): beat's tick queues the launch every couple of seconds until it is done, and
    each run would repeat the window's reads only to wait on the campaign's row. None: skipped.
    Without Redis it runs anyway; two runs at once are safe, the lease only spares work."""
    key = f"{settings.TOKEN_BUCKET_KEY_PREFIX}:campaign-advance:{campaign_id}"
    # Its own token, released only by its owner: a run that outlived its lease does not free the
    # next run's. The lease covers the budget and one slow batch past it.
    lease = get_redis_connection("default").lock(key, timeout=budget_seconds + 60)
    try:
        if not lease.acquire(blocking=False):
            return None
    except RedisError:
        return campaign_advance(campaign_id, budget_seconds=budget_seconds)
    try:
        return campaign_advance(campaign_id, budget_seconds=budget_seconds)
    finally:
        with contextlib.suppress(RedisError, LockError):  # expired: it is no longer ours
            lease.release()


def _freeze_batch(campaign: Campaign) -> tuple[int, int, int]:
    """The audience's members among the account's next FREEZE_BATCH fans (by id, from the
    cursor) become recipients, and those to be sent get their message and thread entry in the
    same transaction: (recipients frozen, messages created, recipients skipped). A window of
    fans, not the next FREEZE_BATCH members: bounded by both ends, the audience's query reads
    only the window (asked for its first N members, the database evaluated its subqueries over
    every fan left, in every batch).

    Each recipient row is written with its message's id already (`message_id_for`, derived from
    the campaign and the fan), then the messages: no second pass that reads the recipients back
    and updates each one to link it (a row version, its indexes and a foreign-key check more per
    recipient). A crash before the commit leaves nothing of the batch; the cursor moves in the
    same transaction, and a concurrent run waits on the campaign's row, then finds the cursor
    moved and does nothing."""
    cursor = campaign.freeze_cursor
    last = (
        Fan.objects.filter(account_id=campaign.account_id, pk__gt=cursor)
        .order_by("pk")
        .values_list("pk", flat=True)[FREEZE_BATCH - 1 : FREEZE_BATCH]
        .first()
    )
    audience = campaign.audience or {"rules": {}, "include": [], "exclude": []}
    fans = list(
        audience_members(
            account_id=campaign.account_id,
            rules=audience["rules"],
            include=audience["include"],
            exclude=audience["exclude"],
            after=cursor,
            until=last,  # None: the window runs to the last fan, and this batch is the last
        )
        .order_by("pk")
        .values_list("pk", "onlyfans_user_id")
    )
    # The window's fans no longer subscribed, in a query of their own: asked for the status
    # column too, PostgreSQL's planner gave up the audience query's index-only plan (11 s for
    # 20,000 fans instead of a few milliseconds).
    window = Fan.objects.filter(account_id=campaign.account_id, pk__gt=cursor)
    if last is not None:
        window = window.filter(pk__lte=last)
    lapsed = set(window.filter(unreachable_fans(timezone.now())).values_list("pk", flat=True))
    written_to = _recently_written_to(campaign, [pk for pk, _ in fans if pk not in lapsed])
    rows = [
        (
            pk,
            recipient_id,
            SkipReason.UNSUBSCRIBED
            if pk in lapsed
            else SkipReason.REPLIED_RECENTLY
            if pk in written_to
            else "",
        )
        for pk, recipient_id in fans
    ]
    now = timezone.now()
    with transaction.atomic():
        # The campaign's row first, as `_create_batch` does: a pause or a resume waits for this
        # batch (or this batch for it), and two runs of the same batch take turns.
        state, current, frozen_at = (
            Campaign.objects.select_for_update()
            .filter(pk=campaign.pk)
            .values_list("state", "freeze_cursor", "audience_frozen_at")
            .get()
        )
        if current != cursor or frozen_at is not None or state not in LAUNCHED:
            # A concurrent run did this batch, or a cancel committed while this one was reading
            # its window: it writes nothing (a cancelled campaign gets no new message).
            return 0, 0, 0
        paused = state == CampaignState.PAUSED
        inserted = _insert_recipients(campaign.pk, rows, now)
        to_send = sorted(
            (fan_id, recipient_id) for fan_id, recipient_id, skip in inserted if not skip
        )
        _write_messages(campaign, to_send, held=paused)
        moved = {"freeze_cursor": last} if last is not None else {"audience_frozen_at": now}
        Campaign.objects.filter(pk=campaign.pk).update(**moved)
        if to_send and not paused:
            pipeline.arm(campaign.account, len(to_send))  # last: it locks the account's rows
    return len(inserted), len(to_send), len(inserted) - len(to_send)


def message_id_for(campaign_id: int, fan_pk: int) -> uuid.UUID:
    """The id of a campaign's message to a fan, derived from (campaign, fan): the campaign in
    the first 48 bits, then version 8 (RFC 9562's custom UUID: never equal to a random, version
    4 id), a marker 0x001, the RFC variant and the fan's id in the last 60 bits. Known before the
    recipient's row exists, so the row is written linked to its message, and the same recipient
    (one per fan and campaign) can never get two messages (a second would have the same primary
    key). The marker tells these ids from those of an earlier version of the launch (derived from
    the recipient's id, marker 0x000): the two can never collide. `_MESSAGE_ID_SQL` computes the
    same value in SQL."""
    if not 0 < campaign_id < 1 << 48 or not 0 < fan_pk < 1 << 60:
        raise ValueError("campaign or fan id out of range for a message id")
    return uuid.UUID(int=campaign_id << 80 | 0x8 << 76 | 0x001 << 64 | 0x8 << 60 | fan_pk)


# message_id_for in SQL, over a fan id (an SQL expression, `{fan}`): as UUIDField stores it
# (SQLite: 32 hex digits; PostgreSQL: a uuid). Its one parameter is the campaign's id.
_MESSAGE_ID_SQL = {
    "sqlite": "printf('%%012x80018%%015x', %s, {fan})",
    "postgresql": (
        "(lpad(to_hex(%s::bigint), 12, '0') || '80018' || lpad(to_hex({fan}), 15, '0'))::uuid"
    ),
}


def _insert_recipients(
    campaign_id: int, rows: list[tuple[int, str, str]], now: datetime
) -> list[tuple[int, str, str]]:
    """One recipient row per (fan, OnlyFans id, skip reason), linked to its message's id unless
    skipped; a row already there (a concurrent batch) is left alone by the unique (campaign,
    recipient) constraint. (fan, OnlyFans id, skip reason) of the rows written. One INSERT …
    SELECT whose only per-row values are those three (`rows_from`): Django's bulk_create prepares
    each field of each row in Python, which costs more than the database's own work at 100,000
    fans, and the values every row shares travel once."""
    if not rows:
        return []
    quote = connection.ops.quote_name
    table = quote(CampaignRecipient._meta.db_table)
    created_at = CampaignRecipient._meta.get_field("created_at").get_db_prep_value(now, connection)
    source, params = rows_from(
        "v", [("fan_id", "bigint"), ("recipient_id", "varchar"), ("skip_reason", "varchar")], rows
    )
    message_id = _MESSAGE_ID_SQL[connection.vendor].format(fan="v.fan_id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, fan_id, recipient_id, skip_reason, cancelled, "
            f"created_at, message_id) SELECT %s, v.fan_id, v.recipient_id, v.skip_reason, %s, %s, "
            f"CASE WHEN v.skip_reason = '' THEN {message_id} END FROM {source} "
            # WHERE: without it SQLite reads the ON of ON CONFLICT as a join's.
            f"WHERE true ON CONFLICT DO NOTHING RETURNING fan_id, recipient_id, skip_reason",
            [campaign_id, False, created_at, campaign_id, *params],
        )
        return cursor.fetchall()


def _recently_written_to(campaign: Campaign, fan_ids: list[int]) -> set[int]:
    """The fans among these that were sent a message (not a mass one) within the campaign's
    `skip_if_replied_within_minutes`. From the fans' conversations (their unique (account, fan)
    index) to each one's thread (the (conversation, id) index), one probe per conversation: read
    the other way round, from the recent outbound messages, it would scan the campaign's own
    thread entries, thousands more each batch."""
    minutes = campaign.skip_if_replied_within_minutes
    if not minutes or not fan_ids:
        return set()
    since = timezone.now() - timedelta(minutes=minutes)
    quote = connection.ops.quote_name
    conversations, thread, outbound = (
        quote(model._meta.db_table) for model in (Conversation, Message, OutboundMessage)
    )
    fans, params = in_ids("c.fan_id", fan_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.fan_id FROM {conversations} c WHERE c.account_id = %s AND {fans} "
            # A scalar subquery with a LIMIT: PostgreSQL keeps it a probe per conversation (an
            # EXISTS could become a hash join over every thread message).
            f"AND (SELECT m.id FROM {thread} m LEFT JOIN {outbound} o ON o.id = m.outbound_id "
            f"WHERE m.conversation_id = c.id AND m.direction = %s AND m.sent_at >= %s "
            f"AND (o.lane IS NULL OR o.lane <> %s) LIMIT 1) IS NOT NULL",
            [
                campaign.account_id,
                *params,
                MessageDirection.OUTBOUND,
                Message._meta.get_field("sent_at").get_db_prep_value(since, connection),
                pipeline.BULK,
            ],
        )
        return {fan_id for (fan_id,) in cursor.fetchall()}


def _create_batch(campaign: Campaign) -> tuple[int, int]:
    # Tuples, not instances: this runs for every recipient of the campaign.
    todo = list(
        campaign.recipients.filter(message__isnull=True, skip_reason="", cancelled=False)
        .order_by("id")
        .values_list("id", "fan_id")[:MESSAGE_BATCH]
    )
    if not todo:
        Campaign.objects.filter(pk=campaign.pk, messages_created_at__isnull=True).update(
            messages_created_at=timezone.now()
        )
        return 0, 0
    written_to = _recently_written_to(campaign, [fan_id for _, fan_id in todo if fan_id])
    skips: dict[str, list[int]] = {}
    to_send: list[int] = []
    lapsed = set(
        Fan.objects.filter(
            unreachable_fans(timezone.now()), pk__in=[f for _, f in todo if f]
        ).values_list("pk", flat=True)
    )
    for pk, fan_id in todo:
        if fan_id is None:
            skips.setdefault(SkipReason.FAN_DELETED, []).append(pk)
        elif fan_id in lapsed:
            skips.setdefault(SkipReason.UNSUBSCRIBED, []).append(pk)
        elif fan_id in written_to:
            skips.setdefault(SkipReason.REPLIED_RECENTLY, []).append(pk)
        else:
            to_send.append(pk)
    with transaction.atomic():
        # The campaign's row first: a pause or a resume (an UPDATE of that row) waits for this
        # batch, or this batch for it, so its messages are held exactly when the campaign is
        # paused at its commit and a pause or a release that follows sees them all.
        state = (
            Campaign.objects.select_for_update()
            .filter(pk=campaign.pk)
            .values_list("state", flat=True)
            .get()
        )
        if state not in LAUNCHED:
            return 0, 0  # cancelled meanwhile: no new message
        paused = state == CampaignState.PAUSED
        skipped = sum(_skip(ids, reason) for reason, ids in skips.items())
        # Claimed and linked in one UPDATE, only those still waiting: a concurrent run that
        # created these messages first wins (its rows no longer match), and one that comes
        # second waits on the rows' locks, then finds them taken.
        claimed = sorted(_link_messages(campaign.pk, to_send))
        _write_messages(campaign, [(fan_id, rid) for _, fan_id, rid in claimed], held=paused)
        if claimed and not paused:
            pipeline.arm(campaign.account, len(claimed))  # last: it locks the account's rows
    return len(claimed), skipped


# A recipient still waiting for its message (the launch's partial index says the same).
_WAITING = "r.message_id IS NULL AND r.skip_reason = '' AND NOT r.cancelled"


def _skip(recipient_pks: list[int], reason: str) -> int:
    """Mark these recipients skipped, those still waiting; how many were."""
    table = connection.ops.quote_name(CampaignRecipient._meta.db_table)
    ids, params = in_ids("r.id", recipient_pks)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS r SET skip_reason = %s WHERE {ids} AND {_WAITING}",
            [reason, *params],
        )
        return cursor.rowcount


def _link_messages(campaign_id: int, recipient_pks: list[int]) -> list[tuple[int, int, str]]:
    """recipient.message = its message's id (`message_id_for`, computed by the database from the
    fan) for each of these recipients still waiting, in one UPDATE with one parameter for the
    ids; (id, fan id, OnlyFans id) of those it linked. The messages are written next, in the same
    transaction (the foreign key is checked at the commit). Only for recipients the freeze left
    unlinked (see `campaign_advance`): the freeze writes each recipient linked already."""
    if not recipient_pks:
        return []
    table = connection.ops.quote_name(CampaignRecipient._meta.db_table)
    ids, params = in_ids("r.id", recipient_pks)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS r SET message_id = "
            f"{_MESSAGE_ID_SQL[connection.vendor].format(fan='r.fan_id')} "
            # The bounds let the planner take the primary key's range even when the table's
            # statistics predate this campaign's rows.
            f"WHERE {ids} AND r.id BETWEEN %s AND %s AND {_WAITING} AND r.fan_id IS NOT NULL "
            f"RETURNING id, fan_id, recipient_id",
            [campaign_id, *params, min(recipient_pks), max(recipient_pks)],
        )
        return cursor.fetchall()


def _write_messages(campaign: Campaign, fans: list[tuple[int, str]], *, held: bool) -> None:
    """The bulk-lane messages of these (fan, recipient id) pairs, under ids derived from the
    campaign and the fan (`message_id_for`), and their entries in the fans' threads."""
    message_ids = [message_id_for(campaign.pk, fan_id) for fan_id, _ in fans]
    pipeline.create_bulk(
        account=campaign.account,
        sender=campaign.created_by,
        recipient_ids=[recipient_id for _, recipient_id in fans],
        content=campaign.content,
        media_urls=campaign.media_urls,
        metadata={"campaignId": campaign.pk},
        held=held,
        ids=message_ids,
    )
    pairs = zip((fan_id for fan_id, _ in fans), message_ids, strict=True)
    threads.add_to_threads(campaign, [(fan_id, message_id.hex) for fan_id, message_id in pairs])

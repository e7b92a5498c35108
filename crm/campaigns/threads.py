"""A launched campaign's messages in their fans' threads: each message the launch creates is
also a thread message of its fan's conversation (opened if needed), written in bulk."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.utils import timezone

from crm.campaigns.models import Campaign
from crm.models import Conversation, Message, MessageDirection
from huntaze.core.sql import rows_from


def add_to_threads(campaign: Campaign, messages: list[tuple[int, str]]) -> None:
    """Each new campaign message, (fan id, message id's hex: what SQLite's column holds and
    PostgreSQL's uuid reads), also goes into its fan's thread (the
    inbox marks it as the campaign's), as a message written from the composer does: a
    conversation for a fan who has none yet, then one outbound thread message per recipient,
    two INSERT … SELECT statements over the pairs (`rows_from`). Existing conversations keep
    their place in the inbox: a mass send does not push thousands of chats to the top.
    Idempotent: a thread message is unique per pipeline message."""
    if not messages:
        return
    now = timezone.now()
    quote = connection.ops.quote_name
    conversations, thread = (quote(model._meta.db_table) for model in (Conversation, Message))
    when = Message._meta.get_field("sent_at").get_db_prep_value(now, connection)
    media = Message._meta.get_field("media_urls").get_db_prep_value(
        list(campaign.media_urls), connection
    )
    fans, fan_params = rows_from("v", [("fan_id", "bigint")], [(fan_id,) for fan_id, _ in messages])
    pairs, pair_params = rows_from(
        "v",
        [("fan_id", "bigint"), ("outbound_id", "uuid")],
        messages,
    )
    if connection.vendor == "postgresql":
        _add_at_once(campaign, pairs, pair_params, when, media)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {conversations} (account_id, fan_id, last_message_preview, "
            f"last_message_direction, last_activity_at, unread_count, pinned, archived, "
            f"created_at, updated_at) "
            f"SELECT %s, v.fan_id, '', '', %s, 0, %s, %s, %s, %s FROM {fans} "
            # WHERE: without it SQLite reads the ON of ON CONFLICT as a join's.
            f"WHERE true ON CONFLICT DO NOTHING",
            [campaign.account_id, when, False, False, when, when, *fan_params],
        )
        cursor.execute(
            f"INSERT INTO {thread} (conversation_id, direction, content, media_urls, sent_at, "
            f"outbound_id, created_at) "
            # A correlated lookup on the conversation's unique (account, fan) index: as a JOIN,
            # SQLite's planner scanned the conversations once per recipient.
            f"SELECT (SELECT c.id FROM {conversations} c "
            f"WHERE c.account_id = %s AND c.fan_id = v.fan_id), "
            f"%s, %s, %s, %s, v.outbound_id, %s FROM {pairs} "
            # WHERE: without it SQLite reads the ON of ON CONFLICT as a join's.
            f"WHERE true ON CONFLICT DO NOTHING",
            [*_message_params(campaign, media, when), *pair_params],
        )


def _add_at_once(campaign: Campaign, pairs: str, pair_params: list, when: Any, media: Any) -> None:
    """`add_to_threads` on PostgreSQL, in one statement: the conversations written (a CTE's
    RETURNING) give the new ones' ids, and only a fan that had a conversation already is looked
    up, with one read of the pairs. If a conversation written concurrently (after this
    statement's snapshot) is neither returned nor seen, its thread message has no conversation:
    the batch fails on the NOT NULL column and is retried."""
    quote = connection.ops.quote_name
    conversations, thread = (quote(model._meta.db_table) for model in (Conversation, Message))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH v AS MATERIALIZED (SELECT * FROM {pairs}), "
            f"new AS (INSERT INTO {conversations} (account_id, fan_id, last_message_preview, "
            f"last_message_direction, last_activity_at, unread_count, pinned, archived, "
            f"created_at, updated_at) "
            f"SELECT %s, v.fan_id, '', '', %s, 0, %s, %s, %s, %s FROM v "
            f"ON CONFLICT DO NOTHING RETURNING id, fan_id) "
            f"INSERT INTO {thread} (conversation_id, direction, content, media_urls, sent_at, "
            f"outbound_id, created_at) "
            f"SELECT COALESCE(new.id, (SELECT c.id FROM {conversations} c "
            f"WHERE c.account_id = %s AND c.fan_id = v.fan_id)), "
            f"%s, %s, %s, %s, v.outbound_id, %s FROM v LEFT JOIN new ON new.fan_id = v.fan_id "
            f"ON CONFLICT DO NOTHING",
            [
                *pair_params,
                campaign.account_id,
                when,
                False,
                False,
                when,
                when,
                *_message_params(campaign, media, when),
            ],
        )


def _message_params(campaign: Campaign, media: Any, when: Any) -> list:
    """The parameters of a thread message's shared columns, after its conversation's lookup by
    account: the account, the direction, the content, the media, sent_at and created_at."""
    return [campaign.account_id, MessageDirection.OUTBOUND, campaign.content, media, when, when]

"""Reads for the inbox page, built on crm.selectors (the API's) and scoped the same way.

The conversation list pages with a keyset cursor over its own order (pinned, last activity,
id): a page starts strictly after the last row the client saw, so new activity that moves a
conversation to the top never makes a later page repeat or skip a row (the moved row reaches
the client through the poll, at the top).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm import selectors
from crm.campaigns.models import Campaign, CampaignRecipient
from crm.delivery_state import MARKED, DeliveryState, delivery_states
from crm.models import Conversation, Message, SubscriptionStatus
from huntaze.core.errors import InvalidInput, NotFound
from huntaze.core.ids import parse_id
from onlyfans.models import MessageStatus, OnlyFansAccount, OutboundMessage
from onlyfans.selectors import accounts_of

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

LIST_PAGE_SIZE = 30
THREAD_PAGE_SIZE = 30
EXPIRING_SOON_DAYS = 7
FILTERS = ("all", "unread", "pinned", "expiring")


@dataclass(frozen=True)
class ListQuery:
    account_id: int | None = None
    search: str = ""
    filter: str = "all"
    cursor: str = ""

    @property
    def base_params(self) -> str:
        """The list's state as a query string (without the cursor), for its links."""
        params = {"account": self.account_id or "", "q": self.search, "filter": self.filter}
        return urlencode({k: v for k, v in params.items() if v and v != "all"})


@dataclass
class ConversationPage:
    rows: list[Conversation]
    next_cursor: str | None
    markers: dict[int, str] = field(default_factory=dict)  # conversation id → "queued" / "failed"


def user_accounts(*, user: User | AnonymousUser) -> list[OnlyFansAccount]:
    return list(accounts_of(user).order_by("username", "pk"))


def parse_account(value: Any, accounts: list[OnlyFansAccount]) -> int | None:
    """The switcher's account: none (all of them) or one of the user's; another is a 404."""
    if value in (None, ""):
        return None
    pk = parse_id(value)
    if pk is None or pk not in {a.pk for a in accounts}:
        raise NotFound("OnlyFans account not found.")
    return pk


def encode_cursor(conversation: Conversation) -> str:
    return (
        f"{int(conversation.pinned)}_{conversation.last_activity_at.isoformat()}_{conversation.pk}"
    )


def decode_cursor(cursor: str) -> tuple[bool, datetime, int]:
    try:
        pinned, stamp, pk = cursor.split("_")
        when = parse_datetime(stamp)
        key = parse_id(pk)
        if pinned not in ("0", "1") or when is None or key is None:
            raise ValueError(cursor)
    except ValueError:
        raise InvalidInput({"cursor": ["Not a cursor of this list; reload the page."]}) from None
    return pinned == "1", when, key


def conversations_for(*, user: User | AnonymousUser, query: ListQuery) -> QuerySet[Conversation]:
    """The list's rows for this query, in order, from its cursor on (not yet sliced)."""
    filters: dict[str, Any] = {"accountId": query.account_id, "search": query.search}
    if query.filter == "unread":
        filters["unread"] = True
    elif query.filter == "pinned":
        filters["pinned"] = True
    conversations = selectors.conversations_query(user=user, filters=filters)
    if query.filter == "expiring":
        now = timezone.now()
        conversations = conversations.filter(
            fan__subscription_status=SubscriptionStatus.ACTIVE,
            fan__expires_at__gte=now,
            fan__expires_at__lte=now + timedelta(days=EXPIRING_SOON_DAYS),
        )
    if query.cursor:
        pinned, when, pk = decode_cursor(query.cursor)
        later = Q(pinned__in=[pinned], last_activity_at__lt=when) | Q(
            pinned__in=[pinned], last_activity_at=when, id__lt=pk
        )
        if pinned:
            later |= Q(pinned__in=[False])
        conversations = conversations.filter(later)
    return conversations


def conversation_page(
    *, user: User | AnonymousUser, query: ListQuery, limit: int = LIST_PAGE_SIZE
) -> ConversationPage:
    """One page of the list, with a marker on conversations where one of our messages waits
    or failed. Three queries whatever the number of conversations: the user's accounts, the
    page, the markers."""
    rows = list(conversations_for(user=user, query=query)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    markers = conversation_markers([c.pk for c in rows], {c.account_id for c in rows})
    for conversation in rows:
        conversation.marker = markers.get(conversation.pk, "")
    return ConversationPage(
        rows=rows, next_cursor=encode_cursor(rows[-1]) if more else None, markers=markers
    )


LIST_FINGERPRINT_FIELDS = (
    "pk",
    "pinned",
    "last_activity_at",
    "unread_count",
    "last_message_preview",
)


def list_fingerprint_rows(
    *, user: User | AnonymousUser, query: ListQuery, limit: int = LIST_PAGE_SIZE
) -> list[tuple]:
    """What the first page shows that can change, without building the rows: the poll's cheap
    "has anything changed?" (the same tuples as `fingerprint_of(page)`)."""
    rows = list(
        conversations_for(user=user, query=query)
        .select_related(None)
        .values_list(*LIST_FINGERPRINT_FIELDS, "account_id")[:limit]
    )
    markers = conversation_markers([row[0] for row in rows], {row[-1] for row in rows})
    return [(*row[:-1], markers.get(row[0], "")) for row in rows]


def fingerprint_of(page: ConversationPage) -> list[tuple]:
    return [
        (*(getattr(c, name) for name in LIST_FINGERPRINT_FIELDS), page.markers.get(c.pk, ""))
        for c in page.rows
    ]


def conversation_markers(conversation_ids: list[int], account_ids: set[int]) -> dict[int, str]:
    """ "failed" where one of our messages failed, else "queued" where one still waits.

    Driven from the pipeline's side: its few waiting or failed rows, one status at a time so
    that each part walks the backlog index (account, status), then their thread messages by the
    unique outbound id; from the thread's side a long thread would be read whole. Written in SQL
    because the poll runs it every few seconds and the ORM's five-part UNION costs more to build
    than to run."""
    if not conversation_ids or not account_ids:
        return {}
    message_table, outbound_table = Message._meta.db_table, OutboundMessage._meta.db_table
    accounts = ", ".join(["%s"] * len(account_ids))
    part = f"SELECT id FROM {outbound_table} WHERE account_id IN ({accounts}) AND status = %s"
    sql = (
        f"SELECT DISTINCT m.conversation_id, o.status FROM {message_table} m "
        f"JOIN {outbound_table} o ON o.id = m.outbound_id "
        f"WHERE m.outbound_id IN ({' UNION ALL '.join([part] * len(MARKED))}) "
        f"AND m.conversation_id IN ({', '.join(['%s'] * len(conversation_ids))})"
    )
    params: list[Any] = []
    for status in MARKED:
        params += [*sorted(account_ids), str(status)]
    params += conversation_ids
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pairs = cursor.fetchall()
    markers: dict[int, str] = {}
    for conversation_id, status in pairs:
        if status in MessageStatus.failures():
            markers[conversation_id] = "failed"
        else:
            markers.setdefault(conversation_id, "queued")
    return markers


def conversation_for(*, user: User | AnonymousUser, conversation_id: Any) -> Conversation:
    return selectors.conversation_get(user=user, conversation_id=conversation_id)


@dataclass
class ThreadPage:
    messages: list[Message]  # oldest first
    states: dict[uuid.UUID, DeliveryState]
    older_cursor: int | None  # `before` for the next older page, None at the start


def thread_page(*, conversation: Conversation, before: int | None = None) -> ThreadPage:
    page = selectors.messages_page(
        conversation=conversation, before=before, after=None, limit=THREAD_PAGE_SIZE
    )
    messages = page.results[::-1]
    states = delivery_states(m.outbound for m in messages)
    for message in messages:
        message.delivery = None if message.outbound_id is None else states.get(message.outbound_id)
    mark_campaign_messages(messages)
    return ThreadPage(
        messages=messages,
        states=states,
        older_cursor=page.before if page.has_older else None,
    )


_NOT_LOADED = object()


def mark_campaign_messages(messages: list[Message]) -> None:
    """`campaign_name` on each thread message a campaign sent, else "": the campaign recipient
    pointing at its pipeline row (loaded with the thread, selectors.THREAD_RELATED), or else
    the row's `metadata.campaignId`. No query for a thread whose campaign messages have their
    recipient; at most two otherwise, whatever the number of messages. A campaign id in the
    metadata of another account's message (metadata is the sender's free text) names nothing."""
    named: dict[object, str] = {}  # outbound id → campaign name
    unloaded: list[uuid.UUID] = []
    by_metadata: dict[object, tuple[int, int]] = {}  # outbound id → (campaign id, account id)
    for message in messages:
        row = message.outbound
        if row is None:
            continue
        recipient = row._state.fields_cache.get("campaign_recipient", _NOT_LOADED)
        if recipient is _NOT_LOADED:
            unloaded.append(row.pk)
        elif recipient is not None:
            named[row.pk] = recipient.campaign.name
            continue
        metadata = row.metadata if isinstance(row.metadata, dict) else {}
        campaign_id = parse_id(metadata.get("campaignId"))
        if campaign_id is not None:
            by_metadata[row.pk] = (campaign_id, row.account_id)
    if unloaded:
        named.update(
            CampaignRecipient.objects.filter(message_id__in=unloaded).values_list(
                "message_id", "campaign__name"
            )
        )
    wanted = {campaign_id for pk, (campaign_id, _) in by_metadata.items() if pk not in named}
    if wanted:
        campaigns = dict(
            (pk, (name, account_id))
            for pk, name, account_id in Campaign.objects.filter(pk__in=wanted).values_list(
                "pk", "name", "account_id"
            )
        )
        for pk, (campaign_id, account_id) in by_metadata.items():
            name, owner_account = campaigns.get(campaign_id, ("", None))
            if pk not in named and owner_account == account_id:
                named[pk] = name
    for message in messages:
        message.campaign_name = named.get(message.outbound_id, "")


def messages_after(*, conversation: Conversation, after: int, limit: int = 50) -> list[Message]:
    """Messages that arrived in the open thread since the newest one on screen, oldest first."""
    return list(
        Message.objects.filter(conversation=conversation, id__gt=after)
        .select_related(*selectors.THREAD_RELATED)
        .order_by("id")[:limit]
    )


def thread_messages(*, user: User | AnonymousUser, message_ids: list[int]) -> list[Message]:
    """These thread messages, among the user's accounts only (others are silently left out)."""
    if not message_ids:
        return []
    return list(
        # Signed in (the views say so); request.user's type still includes AnonymousUser.
        Message.objects.filter(
            pk__in=message_ids,
            conversation__account__owner=user,  # type: ignore[misc]
        )
        .select_related(*selectors.THREAD_RELATED)
        .order_by("id")
    )


def thread_message(*, user: User | AnonymousUser, message_id: Any) -> Message:
    pk = parse_id(message_id)
    found = thread_messages(user=user, message_ids=[pk]) if pk else []
    if not found or found[0].outbound is None:
        raise NotFound("Message not found.")
    return found[0]

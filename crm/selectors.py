"""Reads for the CRM, every one scoped to the requesting user's OnlyFans accounts.

Another user's fan or conversation is "not found", never "forbidden": its existence is not
revealed. Each list query is backed by an index named in crm/models.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from django.db.models import Exists, F, Model, OuterRef, Q, QuerySet
from django.utils import timezone

from crm.models import Conversation, Fan, Message, MessageDirection, Segment, SubscriptionStatus
from huntaze.core.errors import NotFound
from huntaze.core.ids import parse_id
from onlyfans.selectors import accounts_of

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

_Row = TypeVar("_Row", bound=Model)

# The API's ordering names → the columns, each ending with the id so that pages are stable.
# A missing date sorts as the smallest value on every database.
_FAN_ORDERINGS = {
    "createdAt": "created_at",
    "totalSpent": "total_spent",
    "lastSeenAt": "last_seen_at",
    "subscribedAt": "subscribed_at",
}
_NULLABLE = {"last_seen_at", "subscribed_at"}


@dataclass(frozen=True)
class Page:
    results: list[Any]
    total: int
    page: int
    page_size: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.page_size) if self.total else 0


def owned_or_404(
    queryset: QuerySet[_Row], *, user: User | AnonymousUser, pk: Any, what: str
) -> _Row:
    """The row `pk` names among the user's accounts' rows. Another user's row, a malformed id
    and no row at all are the same 404: an outsider learns nothing."""
    key = parse_id(pk)
    row = queryset.filter(pk=key, account__owner=user).first() if key else None
    if row is None:
        raise NotFound(f"{what} not found.")
    return row


def scope_to_accounts(
    queryset: QuerySet, *, user: User | AnonymousUser, account_pk: int | None = None
) -> QuerySet:
    """Rows of the user's accounts (or of one of them). Another user's account is a 404."""
    account_ids = list(accounts_of(user).values_list("pk", flat=True))
    if account_pk is not None:
        if account_pk not in account_ids:
            raise NotFound("OnlyFans account not found.")
        account_ids = [account_pk]
    if len(account_ids) == 1:
        # Equality, not IN (…): the planner walks one index range in order, no sort.
        return queryset.filter(account_id=account_ids[0])
    return queryset.filter(account_id__in=account_ids)


def paginate(queryset: QuerySet, *, page: int, page_size: int) -> Page:
    total = queryset.count()
    start = (page - 1) * page_size
    results = list(queryset[start : start + page_size]) if start < total else []
    return Page(results=results, total=total, page=page, page_size=page_size)


# --- Fans ----------------------------------------------------------------------------------------
def fans_query(*, user: User | AnonymousUser, filters: dict[str, Any]) -> QuerySet[Fan]:
    """The fans list: filters from FanListQuerySerializer, ordered, not yet paginated."""
    scoped = scope_to_accounts(Fan.objects.all(), user=user, account_pk=filters.get("accountId"))
    fans = scoped
    # Search and tag test every fan of the account; as `id IN (…)` subqueries they run over a
    # narrow covering index (fan_search_idx, fan_tags_idx / GIN) instead of reading the table
    # row of each fan the ordered walk passes. Rare matches stay fast, not just common ones.
    if search := filters.get("search", "").strip():
        matches = scoped.filter(
            Q(username__icontains=search)
            | Q(display_name__icontains=search)
            | Q(onlyfans_user_id=search)
        )
        fans = fans.filter(pk__in=matches.values("pk"))
    if tag := filters.get("tag"):
        fans = fans.filter(pk__in=scoped.filter(tags__has_element=tag).values("pk"))
    fans = filter_fans(fans, scoped=scoped, rules=filters)
    return fans.order_by(*fan_ordering(filters.get("ordering", "-createdAt")))


# The rules a fans query understands beyond search and ordering, shared by the fans list and
# segments (whose saved rules are these keys): the API's camelCase names.
FAN_RULES = (
    "subscriptionStatus", "tagsAny", "tagsAll", "minSpent", "maxSpent", "minTips", "maxTips",
    "expiringWithinDays", "subscribedWithinDays", "lastInboundWithinDays",
)  # fmt: skip


def filter_fans(
    fans: QuerySet[Fan], *, scoped: QuerySet[Fan], rules: dict[str, Any]
) -> QuerySet[Fan]:
    """`fans` narrowed by `rules` (FAN_RULES; absent or None means "any"). `scoped` is every fan
    the rules may look at, for the tag subqueries."""
    now = timezone.now()
    if status := rules.get("subscriptionStatus"):
        fans = fans.filter(subscription_status=status)
    if tags := rules.get("tagsAny"):
        any_tag = Q()
        for tag in tags:
            any_tag |= Q(tags__has_element=tag)
        fans = fans.filter(pk__in=scoped.filter(any_tag).values("pk"))
    for tag in rules.get("tagsAll") or ():
        fans = fans.filter(pk__in=scoped.filter(tags__has_element=tag).values("pk"))
    for rule, lookup in (
        ("minSpent", "total_spent__gte"),
        ("maxSpent", "total_spent__lte"),
        ("minTips", "tips__gte"),
        ("maxTips", "tips__lte"),
    ):
        if (value := rules.get(rule)) is not None:
            fans = fans.filter(**{lookup: value})
    if (days := rules.get("expiringWithinDays")) is not None:
        fans = fans.filter(
            subscription_status=SubscriptionStatus.ACTIVE,
            expires_at__gte=now,
            expires_at__lte=now + timedelta(days=days),
        )
    if (days := rules.get("subscribedWithinDays")) is not None:
        fans = fans.filter(subscribed_at__gte=now - timedelta(days=days))
    if (days := rules.get("lastInboundWithinDays")) is not None:
        recent = Message.objects.filter(
            conversation__fan=OuterRef("pk"),
            direction=MessageDirection.INBOUND,
            sent_at__gte=now - timedelta(days=days),
        )
        fans = fans.filter(Exists(recent))
    return fans


def fan_ordering(ordering: str) -> list:
    descending = ordering.startswith("-")
    column = _FAN_ORDERINGS[ordering.lstrip("-")]
    if descending:
        key = F(column).desc(nulls_last=True) if column in _NULLABLE else F(column).desc()
        return [key, F("id").desc()]
    key = F(column).asc(nulls_first=True) if column in _NULLABLE else F(column).asc()
    return [key, F("id").asc()]


def fans_list(*, user: User | AnonymousUser, filters: dict[str, Any]) -> Page:
    page = paginate(
        fans_query(user=user, filters=filters), page=filters["page"], page_size=filters["pageSize"]
    )
    with_conversation_ids(page.results)
    return page


def with_conversation_ids(fans: list[Fan]) -> list[Fan]:
    """Each fan's conversation id (or None), in one query for the whole page."""
    ids = dict(
        Conversation.objects.filter(fan_id__in=[fan.pk for fan in fans]).values_list("fan_id", "pk")
    )
    for fan in fans:
        fan.conversation_id = ids.get(fan.pk)
    return fans


def fan_get(*, user: User | AnonymousUser, fan_id: Any) -> Fan:
    fan = owned_or_404(Fan.objects.all(), user=user, pk=fan_id, what="Fan")
    return with_conversation_ids([fan])[0]


# --- Conversations -------------------------------------------------------------------------------
def conversations_query(
    *, user: User | AnonymousUser, filters: dict[str, Any]
) -> QuerySet[Conversation]:
    """The inbox: pinned first, then newest activity first."""
    conversations = scope_to_accounts(
        Conversation.objects.select_related("fan"), user=user, account_pk=filters.get("accountId")
    )
    # `__in=[x]`, not `=x`: Django writes `archived=False` as `NOT archived`, which SQLite cannot
    # match against an index column; `archived IN (0)` is an equality it can.
    conversations = conversations.filter(archived__in=[filters.get("archived", False)])
    if filters.get("pinned") is not None:
        conversations = conversations.filter(pinned__in=[filters["pinned"]])
    if filters.get("unread") is True:
        conversations = conversations.filter(unread_count__gt=0)
    elif filters.get("unread") is False:
        conversations = conversations.filter(unread_count=0)
    if search := filters.get("search", "").strip():
        conversations = conversations.filter(
            Q(fan__username__icontains=search) | Q(fan__display_name__icontains=search)
        )
    return conversations.order_by("-pinned", "-last_activity_at", "-id")


def conversations_list(*, user: User | AnonymousUser, filters: dict[str, Any]) -> Page:
    return paginate(
        conversations_query(user=user, filters=filters),
        page=filters["page"],
        page_size=filters["pageSize"],
    )


def conversation_get(*, user: User | AnonymousUser, conversation_id: Any) -> Conversation:
    return owned_or_404(
        Conversation.objects.select_related("fan", "account"),
        user=user,
        pk=conversation_id,
        what="Conversation",
    )


# --- Messages ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MessagePage:
    results: list[Message]  # newest first
    before: int | None
    after: int | None
    has_older: bool
    has_newer: bool


THREAD_RELATED = ("outbound__account", "outbound__campaign_recipient__campaign")


def messages_page(
    *, conversation: Conversation, before: int | None, after: int | None, limit: int
) -> MessagePage:
    """A page of the thread, newest first, with the id as cursor.

    Ids grow in arrival order, so a message that arrives while a client pages gets an id above
    every id the client has seen: `after` finds it, `before` never shifts. No duplicates, no gaps.
    Without `after` the page is the newest `limit` messages (below `before` if given); with
    `after` it is the `limit` messages right after the cursor, so polling skips none.
    """
    thread = Message.objects.filter(conversation=conversation)
    # The campaign that sent a message, if any, in the same query (the inbox labels them).
    window = thread.select_related(*THREAD_RELATED)
    if before is not None:
        window = window.filter(id__lt=before)
    if after is not None:
        rows = list(window.filter(id__gt=after).order_by("id")[:limit])[::-1]
    else:
        rows = list(window.order_by("-id")[:limit])
    newest = rows[0].id if rows else None
    oldest = rows[-1].id if rows else None
    # Bounds of what this page covers, for "is there more on either side?".
    low = oldest if rows else (after + 1 if after is not None else before)
    high = newest if rows else (before - 1 if before is not None else after)
    return MessagePage(
        results=rows,
        before=oldest if rows else before,
        after=newest if rows else after,
        has_older=low is not None and thread.filter(id__lt=low).exists(),
        has_newer=high is not None and thread.filter(id__gt=high).exists(),
    )


# --- Segments ------------------------------------------------------------------------------------
def segments_list(*, user: User | AnonymousUser, filters: dict[str, Any]) -> Page:
    segments = scope_to_accounts(
        Segment.objects.all(), user=user, account_pk=filters.get("accountId")
    )
    return paginate(
        segments.order_by("-created_at", "-id"), page=filters["page"], page_size=filters["pageSize"]
    )


def segment_get(*, user: User | AnonymousUser, segment_id: Any) -> Segment:
    return owned_or_404(
        Segment.objects.select_related("account"), user=user, pk=segment_id, what="Segment"
    )


def segment_members(segment: Segment) -> QuerySet[Fan]:
    """(Fans matching the rules ∪ the included ones) − the excluded ones, of the segment's
    account."""
    return audience_members(
        account_id=segment.account_id,
        rules=segment.rules,
        include=segment.included_fans.values("pk"),
        exclude=segment.excluded_fans.values("pk"),
    )


def audience_members(
    *,
    account_id: int,
    rules: dict[str, Any] | None,
    include: Sequence[int] | QuerySet[Any, Any],
    exclude: Sequence[int] | QuerySet[Any, Any],
    after: int = 0,
    until: int | None = None,
) -> QuerySet[Fan]:
    """The fans of an audience: a segment now, or a campaign's audience as frozen at launch.
    `rules=None` matches no fan (only `include`); `include`/`exclude` are fan ids or subqueries.
    `after` (and `until`): only fans with a greater id (and one no greater) — inside the
    subqueries too, so that a launch reading the audience batch by batch never evaluates the
    whole of it again for each batch."""
    scoped = Fan.objects.filter(account_id=account_id)
    if after:
        scoped = scoped.filter(pk__gt=after)
    if until is not None:
        scoped = scoped.filter(pk__lte=until)
    included = Q(pk__in=include)
    if rules is None:
        members = scoped.filter(included)
    elif isinstance(include, list | tuple) and not include:
        # No fan added by hand (a campaign's own rules): the rules' fans themselves, without
        # joining the fans to themselves. That self-join, planned from statistics older than a
        # batch of new fans, became a nested loop over the whole window per fan on PostgreSQL.
        members = filter_fans(scoped, scoped=scoped, rules=rules)
    else:
        matching = filter_fans(scoped, scoped=scoped, rules=rules)
        members = scoped.filter(Q(pk__in=matching.values("pk")) | included)
    return members.exclude(pk__in=exclude)


@dataclass(frozen=True)
class SegmentPreview:
    count: int
    fans: list[Fan]


def segment_preview(*, segment: Segment, limit: int = 20) -> SegmentPreview:
    members = segment_members(segment)
    fans = list(members.order_by("-total_spent", "id")[:limit])
    return SegmentPreview(count=members.count(), fans=with_conversation_ids(fans))

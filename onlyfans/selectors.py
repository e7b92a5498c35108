"""Reads, scoped to the requesting user's OnlyFans accounts (the two counts below are
unscoped with `user=None`, for operators); and the live pace of messages and accounts, for the
CRM (`onlyfans/pacing.py`'s model)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Max, QuerySet

from huntaze.core.errors import InvalidInput, NotFound
from huntaze.core.ids import parse_uuid
from onlyfans import backlog, limiter, pacing
from onlyfans.models import DeliveryAttempt, MessageStatus, OnlyFansAccount, OutboundMessage
from onlyfans.pacing import MessageSchedule, appended_eta, message_schedule, message_schedules

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

__all__ = [
    "MessageSchedule",
    "account_for_user",
    "accounts_of",
    "appended_eta",
    "bulk_rate_per_minute",
    "last_processed_at",
    "message_for_user",
    "message_schedule",
    "message_schedules",
    "waiting_counts_by_onlyfans_account",
]


def accounts_of(user: User | AnonymousUser) -> QuerySet[OnlyFansAccount]:
    # The views admit only signed-in users; request.user's type still includes AnonymousUser.
    return OnlyFansAccount.objects.filter(owner=user)  # type: ignore[misc]


def account_for_user(*, user: User | AnonymousUser, account_pk: int | None) -> OnlyFansAccount:
    """The account a request acts on: named, or the user's only account. Another user's is a 404."""
    if account_pk is not None:
        try:
            return accounts_of(user).get(pk=account_pk)
        except OnlyFansAccount.DoesNotExist:
            raise NotFound("OnlyFans account not found.") from None
    accounts = list(accounts_of(user).order_by("pk")[:2])
    if not accounts:
        raise InvalidInput({"accountId": ["You have no OnlyFans account yet; connect one first."]})
    if len(accounts) > 1:
        raise InvalidInput(
            {"accountId": ["This field is required when you run several OnlyFans accounts."]}
        )
    return accounts[0]


def message_for_user(*, user: User | AnonymousUser, message_id: str) -> OutboundMessage:
    key = parse_uuid(message_id)
    if key is None:
        raise NotFound("Message not found.")
    try:
        return (
            OutboundMessage.objects.select_related("account")
            .prefetch_related("attempts")
            .get(pk=key, account__owner=user)  # type: ignore[misc]  # signed in: see accounts_of
        )
    except OutboundMessage.DoesNotExist:
        raise NotFound("Message not found.") from None


def waiting_counts_by_onlyfans_account(
    *, user: User | AnonymousUser | None = None
) -> dict[str, dict[str, int]]:
    """Each OnlyFans account's waiting messages (ready or being sent) per lane. An OnlyFans
    account shared by several users counts every user's messages: they share its slots.

    From the maintained counts (onlyfans/backlog.py): a few rows per account, whatever the
    backlog."""
    accounts = OnlyFansAccount.objects.all()
    if user is not None:
        accounts = accounts.filter(onlyfans_id__in=accounts_of(user).values("onlyfans_id"))
    onlyfans_of = dict(accounts.values_list("pk", "onlyfans_id"))
    counts: dict[str, dict[str, int]] = {}
    waiting = set(MessageStatus.waiting())
    # Every account's counts for operators (no IN list of every account); the membership test
    # drops the rows a deleted account left.
    scope = None if user is None else onlyfans_of
    for (account_id, status, lane), n in backlog.counts(scope).items():
        if status in waiting and account_id in onlyfans_of:
            lanes = counts.setdefault(onlyfans_of[account_id], {})
            lanes[lane] = lanes.get(lane, 0) + n
    return counts


def last_processed_at(*, user: User | AnonymousUser | None = None) -> datetime | None:
    """The last delivery attempt: of the user's own messages (kept on their account rows, so
    no join over the backlog), or of anyone's (the attempts' index gives the maximum)."""
    if user is not None:
        return accounts_of(user).aggregate(last=Max("last_attempt_at"))["last"]
    return DeliveryAttempt.objects.aggregate(last=Max("attempted_at"))["last"]


def bulk_rate_per_minute(account: OnlyFansAccount) -> float:
    """Bulk deliveries per minute the account's limiter allows while replies leave room: one per
    bulk pace (window / (limit − reserve))."""
    limit = pacing.effective_limits([account.onlyfans_id])[account.onlyfans_id]
    return 60.0 / limiter.params_for(limit).bulk_pace

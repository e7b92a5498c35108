"""Reads, always scoped to the requesting user's OnlyFans accounts."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Max, QuerySet

from huntaze.core.errors import InvalidInput, NotFound
from huntaze.core.ids import parse_uuid
from onlyfans.models import DeliveryAttempt, MessageStatus, OnlyFansAccount, OutboundMessage


def accounts_of(user) -> QuerySet[OnlyFansAccount]:
    return OnlyFansAccount.objects.filter(owner=user)


def account_for_user(*, user, account_pk: int | None) -> OnlyFansAccount:
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


def message_for_user(*, user, message_id: str) -> OutboundMessage:
    key = parse_uuid(message_id)
    if key is None:
        raise NotFound("Message not found.")
    try:
        return (
            OutboundMessage.objects.select_related("account")
            .prefetch_related("attempts")
            .get(pk=key, account__owner=user)
        )
    except OutboundMessage.DoesNotExist:
        raise NotFound("Message not found.") from None


def waiting_counts_by_onlyfans_account(*, user=None) -> dict[str, dict[str, int]]:
    """Each OnlyFans account's waiting messages per lane, in one grouped query. An OnlyFans
    account shared by several users counts every user's messages: they share its slots."""
    queryset = OutboundMessage.objects.filter(status__in=MessageStatus.waiting())
    if user is not None:
        queryset = queryset.filter(account__onlyfans_id__in=accounts_of(user).values("onlyfans_id"))
    rows = queryset.order_by().values("account__onlyfans_id", "lane").annotate(n=Count("pk"))
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["account__onlyfans_id"], {})[row["lane"]] = row["n"]
    return counts


def last_processed_at(*, user=None) -> datetime | None:
    attempts = DeliveryAttempt.objects.all()
    if user is not None:
        attempts = attempts.filter(message__account__owner=user)
    return attempts.aggregate(last=Max("attempted_at"))["last"]

"""One scheduler per OnlyFans account: the database side of the dispatcher's claims.

The database is the queue of record. SQS carries one *wake-up* per account ("look at this
account at time T"), never a copy per message, so a backlog of N messages costs about N
deliveries and O(1) SQS calls each; the wake-ups' bookkeeping is in `onlyfans.wakeups`.

- `claim_next` picks the account's best ready message in lane order (interactive, then priority
  10 → 1, then acceptance order) and claims it, atomically: one short transaction that locks the
  account's rows (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's IMMEDIATE transactions serialise
  writers anyway). While one of the account's messages is being sent, nothing else of that
  account is picked: one gateway call at a time per account, in exactly the lane order.
- `release` gives a claimed row back without an attempt (no slot yet, or Redis down).

No function here talks to SQS, Redis or the gateway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from onlyfans import statements
from onlyfans.delivery import LOST_CLAIM_ERROR, Claim
from onlyfans.models import (
    AttemptOutcome,
    DeliveryAttempt,
    MessageStatus,
    OnlyFansAccount,
    OutboundMessage,
)
from onlyfans.pacing import LANE_ORDER, PICK_ORDER, READY, AccountPace, pace_of

if TYPE_CHECKING:
    from django.db.models.query import RawQuerySet


def _lock_accounts(onlyfans_id: str) -> list[OnlyFansAccount]:
    """The account's rows (one per user sharing it), locked until the transaction ends."""
    lock = statements.for_update()
    sql = f"SELECT * FROM {ACCOUNTS_TABLE} WHERE onlyfans_id = %s ORDER BY id{lock}"
    return list(OnlyFansAccount.objects.raw(sql, [onlyfans_id]))


_PICK_TRIES = 5


# The dispatcher's two polling queries (`candidates` here, `wakeups.next_need`) are written out:
# built by the ORM (scalar subqueries, EXISTS, ORs) each took several milliseconds of Python per
# delivery, more than the database spent answering them. Both are plain SQL that SQLite and
# PostgreSQL read alike, from these fragments.
MESSAGES_TABLE = OutboundMessage._meta.db_table
ACCOUNTS_TABLE = OnlyFansAccount._meta.db_table
READY_SQL = "status IN (%s, %s) AND (next_attempt_at IS NULL OR next_attempt_at <= %s)"
_PICK_ORDER_SQL = ", ".join(
    f"{f.lstrip('-')} {'DESC' if f.startswith('-') else 'ASC'}" for f in PICK_ORDER
)


def ready_params(now: datetime) -> list:
    return [*READY, connection.ops.adapt_datetimefield_value(now)]


def candidates(account_ids: list[int], now: datetime) -> RawQuerySet[OutboundMessage]:
    """One query for the pick: the best ready message of each lane and the account's claims out.
    Each lane's best is a scalar subquery on `outbound_pick_idx`, the claims come from
    `outbound_sending_idx` (the plan test in tests/onlyfans/test_claims.py says so)."""
    ids = ", ".join(["%s"] * len(account_ids))
    best = (
        f"id = (SELECT id FROM {MESSAGES_TABLE}"
        f" WHERE account_id IN ({ids}) AND lane = %s AND {READY_SQL}"
        f" ORDER BY {_PICK_ORDER_SQL} LIMIT 1)"
    )
    sql = (
        f"SELECT * FROM {MESSAGES_TABLE} WHERE "
        + " OR ".join([best] * len(LANE_ORDER))
        + f" OR (account_id IN ({ids}) AND status = %s)"
    )
    params: list = []
    for lane in LANE_ORDER:
        params += [*account_ids, lane, *ready_params(now)]
    params += [*account_ids, MessageStatus.SENDING]
    return OutboundMessage.objects.raw(sql, params)


@dataclass(frozen=True)
class Pick:
    claim: Claim | None = None
    busy_until: datetime | None = None  # another consumer is sending for this account
    pace: AccountPace | None = None  # read with the claim: no query of its own


def claim_next(onlyfans_id: str) -> Pick:
    """Claim the account's best ready message, unless one of its messages is being sent.

    Three statements in one short transaction: lock the account's rows (which also gives its
    pace), one query for both lanes' best and the claims out, the conditional claim UPDATE."""
    now = timezone.now()
    token = uuid.uuid4()
    lease_until = now + timedelta(seconds=settings.ONLYFANS_CLAIM_LEASE_SECONDS)
    with transaction.atomic():
        accounts = {account.pk: account for account in _lock_accounts(onlyfans_id)}
        pace = pace_of(accounts.values())
        account_ids = list(accounts)
        if not account_ids:
            return Pick(pace=pace)
        for _ in range(_PICK_TRIES):
            rows = list(candidates(account_ids, now))
            leases = [
                (row.pk, row.claimed_until) for row in rows if row.status == MessageStatus.SENDING
            ]
            # A claim whose lease ran out belongs to a dead consumer: its message is ready again (a
            # second call carries the same Idempotency-Key, so the gateway answers the first).
            expired = [pk for pk, until in leases if until is None or until <= now]
            if expired:
                # Each lost claim is an attempt (a crash loop ends visibly): ready again, or
                # dead-lettered after ONLYFANS_MAX_LOST_CLAIMS. Its call may have reached the
                # gateway unrecorded: it counts as the account's last call at its lease's end.
                mine = OutboundMessage.objects.filter(account_id__in=account_ids)
                _count_lost_claims(mine, expired, now)
                pace = _lost_call_recorded(account_ids, pace, leases, now)
                continue  # the expired claims compete again, in lane order
            live = [until for _, until in leases if until is not None and until > now]
            if live:
                return Pick(busy_until=min(live), pace=pace)
            ready = {row.lane: row for row in rows if row.status in READY}
            message = next((ready[lane] for lane in LANE_ORDER if lane in ready), None)
            if message is None:
                return Pick(pace=pace)
            if _claim(message.pk, account_ids, token, lease_until, now):
                break
        else:
            return Pick(pace=pace)
    message.account = accounts[message.account_id]
    message.status, message.claim_token, message.claimed_until, message.wait_reason = (
        MessageStatus.SENDING,
        token,
        lease_until,
        "",
    )
    return Pick(claim=Claim(message, token), pace=pace)


def _claim(
    pk: uuid.UUID, account_ids: list[int], token: uuid.UUID, until: datetime, now: datetime
) -> bool:
    """The claim: conditional on the message being the account's and still ready, so that a
    cancel, a hold (a paused campaign) or a back-off that committed since the pick wins."""
    ids = ", ".join(["%s"] * len(account_ids))
    values = {
        "status": MessageStatus.SENDING,
        "claim_token": token,
        "claimed_until": until,
        "wait_reason": "",
    }
    where = f"id = %s AND account_id IN ({ids}) AND {READY_SQL}"
    params = [statements.prep(OutboundMessage, "id", pk), *account_ids, *ready_params(now)]
    return statements.update(OutboundMessage, values, where, params) == 1


def _count_lost_claims(mine: QuerySet[OutboundMessage], expired: list, now: datetime) -> None:
    """Expired leases, in the claim's transaction: each is recorded as an attempt whose outcome
    is unknown (a crash loop must end in a visible state, not loop unseen). The message is ready
    again, or dead-lettered once its claim has been lost ONLYFANS_MAX_LOST_CLAIMS times."""
    limit = settings.ONLYFANS_MAX_LOST_CLAIMS
    for message in mine.filter(pk__in=expired, status=MessageStatus.SENDING):
        attempts = message.attempts.count()
        lost = message.attempts.filter(error=LOST_CLAIM_ERROR).count() + 1
        DeliveryAttempt.objects.create(
            message=message,
            number=attempts + 1,
            attempted_at=now,
            outcome=AttemptOutcome.RETRY,
            error=LOST_CLAIM_ERROR,
        )
        update: dict = {"status": MessageStatus.QUEUED, "claim_token": None, "claimed_until": None}
        if lost >= limit:
            update.update(
                status=MessageStatus.DEAD_LETTERED,
                last_error=f"{LOST_CLAIM_ERROR}, {lost} times: given up (a crash loop?)",
                wait_reason="",
            )
        mine.filter(pk=message.pk, status=MessageStatus.SENDING).update(**update)


def _lost_call_recorded(
    account_ids: list[int], pace: AccountPace, leases: list, now: datetime
) -> AccountPace:
    """A consumer that died holding a claim may have called the gateway (killed after the call,
    before its record): the database, which stands in for Redis when Redis lost its data
    (`limiter`'s cold start), must know of that call. The latest moment it can have reached the
    gateway is the lease's end (the call's deadline is below it)."""
    ends = [min(until or now, now) for _, until in leases if until is None or until <= now]
    latest = max(ends, default=None)
    if latest is None or (pace.last_call_at is not None and pace.last_call_at >= latest):
        return pace
    OnlyFansAccount.objects.filter(pk__in=account_ids).update(last_gateway_call_at=latest)
    return replace(pace, last_call_at=latest)


def release(claim: Claim, *, reason: str, not_before: datetime | None = None) -> None:
    """Give the row back (no slot yet, or Redis down); it waits, it has not failed."""
    update: dict = {
        "status": MessageStatus.QUEUED,
        "claim_token": None,
        "claimed_until": None,
        "wait_reason": reason,
    }
    if not_before is not None:
        update["next_attempt_at"] = not_before
    OutboundMessage.objects.filter(pk=claim.message.pk, claim_token=claim.token).update(**update)

"""An account's wake-ups: the database side of "look at this account at time T".

SQS carries one wake-up per account, never a copy per message; the account row holds the armed
one (`wake_at`, `wake_token`).

- `wake_request` (accepting a message) arms a wake-up only when none is armed for an earlier
  moment: accepting for an account that already has one in flight needs no SQS call.
- `wake_settle` (a consumer done with an account) decides when the account next needs a
  consumer, and whether the wake-up in hand is the one to carry it or a spare to drop;
  `delivery_settle` does the same together with recording a gateway call's attempt.
- `wakeups_overdue` / `wakeups_rearm_all` (the relay, a consumer's start-up): wake-ups lost with
  SQS's contents come back within one relay period after `ONLYFANS_WAKE_GRACE_SECONDS`.
- A wake-up due later than SQS can delay (`PARK_BEYOND_SECONDS`: a scheduled send next month, a
  paused campaign's held messages) is *parked*: `wake_at` set, no token, nothing on SQS
  (`wake_park` when accepting, `wake_park_token` when a consumer would resend it). The relay's
  `wakeups_overdue` sends it `PARKED_LEAD_SECONDS` before it is due.

No function here talks to SQS, Redis or the gateway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from onlyfans import delivery, statements
from onlyfans.delivery import Claim, Recorded
from onlyfans.gateway import GatewayResult
from onlyfans.models import Lane, MessageStatus, OnlyFansAccount, OutboundMessage
from onlyfans.pacing import LANE_ORDER, READY
from onlyfans.scheduler import ACCOUNTS_TABLE, MESSAGES_TABLE, READY_SQL, ready_params

# SQS delays a message at most 15 minutes: a wake-up due later is parked in the database.
PARK_BEYOND_SECONDS = 900.0
# The relay sends a parked wake-up this long before it is due (several relay periods, under the
# consumer's hold horizon: the consumer that receives it holds it on a timer until then).
PARKED_LEAD_SECONDS = 60.0


def _grace() -> timedelta:
    return timedelta(seconds=settings.ONLYFANS_WAKE_GRACE_SECONDS)


def _current_wake(onlyfans_id: str) -> tuple[datetime | None, uuid.UUID | None]:
    """The account's wake-up, its first row locked until the transaction ends: every claim and
    settle of the account takes that row first, so it serialises them (in the same order)."""
    where = f"onlyfans_id = %s ORDER BY id LIMIT 1{statements.for_update()}"
    row = statements.select_one(OnlyFansAccount, ["wake_at", "wake_token"], where, [onlyfans_id])
    return (row[0], row[1]) if row is not None else (None, None)


def _set_wake(onlyfans_id: str, at: datetime | None, token: uuid.UUID | None) -> None:
    _update_account(onlyfans_id, {"wake_at": at, "wake_token": token})


def _update_account(onlyfans_id: str, values: dict) -> None:
    statements.update(OnlyFansAccount, values, "onlyfans_id = %s", [onlyfans_id])


@dataclass(frozen=True)
class Wakeup:
    token: uuid.UUID
    at: datetime

    def delay_seconds(self) -> float:
        return max((self.at - timezone.now()).total_seconds(), 0.0)


def wake_request(onlyfans_id: str, *, at: datetime | None = None) -> Wakeup | None:
    """A message becomes ready at `at` (now by default). Returns a new wake-up the caller must
    send to SQS, or None when an armed one already covers that moment."""
    now = timezone.now()
    at = at or now
    with transaction.atomic():
        wake_at, wake_token = _current_wake(onlyfans_id)
        live = wake_at is not None and wake_at >= now - _grace()
        # Due without an SQS copy (one that never reached SQS, `wake_forget`): not a cover.
        unsent = wake_token is None and wake_at is not None and wake_at <= now
        if live and not unsent and wake_at is not None and wake_at <= at:  # (not None: for mypy)
            return None
        # No live wake-up: the account may hold older messages than this one, due sooner; the
        # consumer looks now and works out the account's real next moment.
        wakeup = Wakeup(uuid.uuid4(), at if live and not unsent else now)
        _set_wake(onlyfans_id, wakeup.at, wakeup.token)
    return wakeup


def wake_forget(onlyfans_id: str, token: uuid.UUID) -> None:
    """The wake-up `wake_request` armed never reached SQS: its SQS copy is forgotten, not its
    moment. The account keeps `wake_at` without a token, as a parked wake-up: the relay's next
    run sends it (coming due, or overdue past the grace). Clearing the moment too would strand
    every message that no `pending` row speaks for (queued bulk rows, a parked scheduled send)."""
    OnlyFansAccount.objects.filter(onlyfans_id=onlyfans_id, wake_token=token).update(
        wake_token=None
    )


def wake_park(onlyfans_id: str, *, at: datetime) -> None:
    """A message becomes ready at `at`, later than SQS can delay: record the wake-up in the
    database only, unless an earlier live one covers it. An overdue one is left for the relay
    (its consumer then works out the account's next need, this message included)."""
    now = timezone.now()
    with transaction.atomic():
        wake_at, _ = _current_wake(onlyfans_id)
        if wake_at is not None and (wake_at < now - _grace() or wake_at <= at):
            return
        _set_wake(onlyfans_id, at, None)


def wake_park_token(onlyfans_id: str, token: uuid.UUID | None) -> None:
    """The wake-up in hand (`token`) is due later than SQS can delay: it stays in the database
    only (its `wake_at` as settled), and the caller drops its SQS copy."""
    if token is not None:
        OnlyFansAccount.objects.filter(onlyfans_id=onlyfans_id, wake_token=token).update(
            wake_token=None
        )


_OF_ACCOUNT = f"account_id IN (SELECT id FROM {ACCOUNTS_TABLE} WHERE onlyfans_id = %s)"


def _need_sql() -> str:
    ready = [
        f"EXISTS (SELECT 1 FROM {MESSAGES_TABLE} WHERE {_OF_ACCOUNT} AND lane = %s AND {READY_SQL})"
    ] * len(LANE_ORDER)
    sending = f"EXISTS (SELECT 1 FROM {MESSAGES_TABLE} WHERE {_OF_ACCOUNT} AND status = %s)"
    return "SELECT " + ", ".join([*ready, sending])


def _need_params(onlyfans_id: str, now: datetime) -> list:
    params: list = []
    for lane in LANE_ORDER:
        params += [onlyfans_id, lane, *ready_params(now)]
    return [*params, onlyfans_id, MessageStatus.SENDING]


def next_need(
    onlyfans_id: str, *, slots: dict[str, datetime] | None, now: datetime | None = None
) -> datetime | None:
    """When the account next needs a consumer: its best lane's next slot if a message of that
    lane is ready, else the earliest not-before of its waiting messages, else never (None).
    `slots` is the limiter's next moment per lane (None: Redis unreachable, look again soon).
    One query (whether each lane has a ready message, whether a claim is out), and a second one
    only when neither: the earliest not-before."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_need_sql(), _need_params(onlyfans_id, now))
        *ready, sending = cursor.fetchone()
    fallback = now + timedelta(seconds=5)
    for lane, has_ready in zip(LANE_ORDER, ready, strict=True):
        if has_ready:
            return max(slots[lane], now) if slots else fallback
    if sending:
        return fallback  # a claim is out: its lease is checked then
    later = OutboundMessage.objects.filter(
        account__onlyfans_id=onlyfans_id, status__in=READY
    ).aggregate(at=Min("next_attempt_at"))["at"]
    if later is None:
        return None
    return max(later, slots[Lane.BULK] if slots else later)


def wake_settle(
    onlyfans_id: str, *, token: uuid.UUID | None, slots: dict[str, datetime] | None
) -> datetime | None:
    """After a dispatch: returns when the wake-up in hand (`token`) fires next, or None when it
    is spare (nothing waiting, or another live wake-up covers the account's next need)."""
    with transaction.atomic():
        return _settle_locked(
            onlyfans_id, _current_wake(onlyfans_id), token=token, slots=slots, now=timezone.now()
        )


def _settle_locked(
    onlyfans_id: str,
    wake: tuple[datetime | None, uuid.UUID | None],
    *,
    token: uuid.UUID | None,
    slots: dict[str, datetime] | None,
    now: datetime,
    called_at: datetime | None = None,
) -> datetime | None:
    """`wake_settle` once the account's rows are locked (`wake` read under the lock). With
    `called_at`, the same UPDATE records the account's last gateway call."""
    wake_at, current = wake
    need = next_need(onlyfans_id, slots=slots, now=now)
    another_live = (
        current is not None
        and current != token
        and wake_at is not None
        and wake_at >= now - _grace()
        and (need is None or wake_at <= need)
    )
    update: dict = {} if called_at is None else {"last_gateway_call_at": called_at}
    if not another_live:
        update.update(wake_at=need, wake_token=token if need is not None else None)
    if update:
        _update_account(onlyfans_id, update)
    return None if another_live else need


def delivery_settle(
    claim: Claim, result: GatewayResult, *, token: uuid.UUID | None, slots: dict[str, datetime]
) -> tuple[Recorded, datetime | None]:
    """After a gateway call: record the attempt (`delivery.record_attempt`) and settle the wake-up
    in hand (`wake_settle`) in one transaction, five statements: lock the account's first row
    (first, as `scheduler.claim_next` does: no deadlock with another consumer's claim), the
    message's UPDATE, the attempt's INSERT, the next-need query, one UPDATE of the account (its
    last call and its wake-up)."""
    onlyfans_id = claim.message.account.onlyfans_id
    with transaction.atomic():
        wake = _current_wake(onlyfans_id)
        recorded = delivery.record_attempt(claim, result, record_call=False, report=False)
        next_at = _settle_locked(
            onlyfans_id, wake, token=token, slots=slots, now=timezone.now(), called_at=recorded.at
        )
    delivery.report_recorded(claim, result, recorded)
    return recorded, next_at


def wakeups_overdue(*, limit: int = 1000) -> list[tuple[str, uuid.UUID]]:
    """Accounts whose wake-up is overdue by more than the grace: it was lost (SQS purged or
    restarted) or never sent (SQS down). Each gets a new token, due now, for the caller to send."""
    now = timezone.now()
    ids = list(
        OnlyFansAccount.objects.filter(wake_at__lt=now - _grace())
        .order_by("wake_at")
        .values_list("onlyfans_id", flat=True)[:limit]
    )
    # Parked wake-ups coming due: sent now, the consumer holds them until their moment.
    parked = list(
        OnlyFansAccount.objects.filter(
            wake_token__isnull=True,
            wake_at__gte=now - _grace(),
            wake_at__lte=now + timedelta(seconds=PARKED_LEAD_SECONDS),
        )
        .order_by("wake_at")
        .values_list("onlyfans_id", "wake_at")[:limit]
    )
    out = [(onlyfans_id, _rearm(onlyfans_id, now)) for onlyfans_id in dict.fromkeys(ids)]
    out += [
        (onlyfans_id, _rearm(onlyfans_id, wake_at))
        for onlyfans_id, wake_at in dict(parked).items()
        if onlyfans_id not in ids and wake_at is not None  # the filter above: never None
    ]
    return out


def wakeups_rearm_all() -> list[tuple[str, uuid.UUID, float]]:
    """Every account that needs a consumer gets a new wake-up (a consumer's start-up: SQS may have
    lost its contents while nothing ran). Returns (account, token, delay seconds) to send."""
    now = timezone.now()
    out = []
    rows = (
        OnlyFansAccount.objects.filter(wake_at__isnull=False)
        # Parked and not coming due: the relay sends it when it is.
        .exclude(wake_token__isnull=True, wake_at__gt=now + timedelta(seconds=PARKED_LEAD_SECONDS))
        .values_list("onlyfans_id", "wake_at")
    )
    for onlyfans_id, wake_at in dict(rows).items():
        if wake_at is None:  # excluded by the query; it narrows the type
            continue
        token = _rearm(onlyfans_id, max(wake_at, now))
        out.append((onlyfans_id, token, max((wake_at - now).total_seconds(), 0.0)))
    return out


def wake_rearm(onlyfans_id: str, *, at: datetime | None = None) -> uuid.UUID:
    """A new wake-up for the account, due at `at` (now), whatever is armed: the caller could not
    confirm the one armed before (its SQS send failed) or knows it is lost."""
    return _rearm(onlyfans_id, at or timezone.now())


def _rearm(onlyfans_id: str, at: datetime) -> uuid.UUID:
    token = uuid.uuid4()
    _set_wake(onlyfans_id, at, token)
    return token

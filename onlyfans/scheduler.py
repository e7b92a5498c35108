"""One scheduler per OnlyFans account: the database side of the dispatcher and of its wake-ups.

The database is the queue of record. SQS carries one *wake-up* per account ("look at this
account at time T"), never a copy per message, so a backlog of N messages costs about N
deliveries and O(1) SQS calls each.

- `claim_next` picks the account's best ready message in lane order (interactive, then priority
  10 → 1, then acceptance order) and claims it, atomically: one short transaction that locks the
  account's rows (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's IMMEDIATE transactions serialise
  writers anyway). While one of the account's messages is being sent, nothing else of that
  account is picked: one gateway call at a time per account, in exactly the lane order.
- `wake_request` (accepting a message) arms a wake-up only when none is armed for an earlier
  moment: accepting for an account that already has one in flight needs no SQS call.
- `wake_settle` (a consumer done with an account) decides when the account next needs a
  consumer, and whether the wake-up in hand is the one to carry it or a spare to drop.
- `wakeups_overdue` / `wakeups_rearm_all` (the relay, a consumer's start-up): wake-ups lost with
  SQS's contents come back within one relay period after `ONLYFANS_WAKE_GRACE_SECONDS`.

No function here talks to SQS, Redis or the gateway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from onlyfans.delivery import LOST_CLAIM_ERROR, Claim
from onlyfans.models import (
    AttemptOutcome,
    DeliveryAttempt,
    Lane,
    MessageStatus,
    OnlyFansAccount,
    OutboundMessage,
)
from onlyfans.pacing import LANE_ORDER, PICK_ORDER, READY


def _ready(now: datetime) -> Q:
    return Q(status__in=READY) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def _account_ids(onlyfans_id: str, *, lock: bool) -> list[int]:
    rows = OnlyFansAccount.objects.filter(onlyfans_id=onlyfans_id).order_by("pk")
    if lock:
        rows = rows.select_for_update()
    return list(rows.values_list("pk", flat=True))


_PICK_TRIES = 5


def _best_ready(mine, now: datetime) -> OutboundMessage | None:
    for lane in LANE_ORDER:
        picked = mine.filter(_ready(now), lane=lane).select_related("account").order_by(*PICK_ORDER).first()
        if picked is not None:
            return picked
    return None


@dataclass(frozen=True)
class Pick:
    claim: Claim | None = None
    busy_until: datetime | None = None  # another consumer is sending for this account


def claim_next(onlyfans_id: str) -> Pick:
    """Claim the account's best ready message, unless one of its messages is being sent."""
    now = timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        account_ids = _account_ids(onlyfans_id, lock=True)
        mine = OutboundMessage.objects.filter(account_id__in=account_ids)
        leases = list(mine.filter(status=MessageStatus.SENDING).values_list("pk", "claimed_until"))
        # A claim whose lease ran out belongs to a dead consumer: its message is ready again (a
        # second call carries the same Idempotency-Key, so the gateway answers the first).
        expired = [pk for pk, until in leases if until is None or until <= now]
        if expired:
            _count_lost_claims(mine, expired, now)
        live = [until for _, until in leases if until is not None and until > now]
        if live:
            return Pick(busy_until=min(live))
        lease_until = now + timedelta(seconds=settings.ONLYFANS_CLAIM_LEASE_SECONDS)
        for _ in range(_PICK_TRIES):
            message = _best_ready(mine, now)
            if message is None:
                return Pick()
            # Conditional on the status: a cancel that committed meanwhile wins over this claim.
            if mine.filter(pk=message.pk, status__in=READY).update(
                status=MessageStatus.SENDING, claim_token=token, claimed_until=lease_until, wait_reason=""
            ):
                break
        else:
            return Pick()
    message.status, message.claim_token, message.claimed_until, message.wait_reason = (
        MessageStatus.SENDING,
        token,
        lease_until,
        "",
    )
    return Pick(claim=Claim(message, token))


def _count_lost_claims(mine, expired: list, now: datetime) -> None:
    """Expired leases, in the claim's transaction: each is recorded as an attempt whose outcome
    is unknown (a crash loop must end in a visible state, not loop unseen). The message is ready
    again, or dead-lettered once its claim has been lost ONLYFANS_MAX_LOST_CLAIMS times."""
    limit = settings.ONLYFANS_MAX_LOST_CLAIMS
    for message in mine.filter(pk__in=expired, status=MessageStatus.SENDING):
        attempts = message.attempts.count()
        lost = message.attempts.filter(error=LOST_CLAIM_ERROR).count() + 1
        DeliveryAttempt.objects.create(
            message=message, number=attempts + 1, attempted_at=now, outcome=AttemptOutcome.RETRY, error=LOST_CLAIM_ERROR
        )
        update: dict = {"status": MessageStatus.QUEUED, "claim_token": None, "claimed_until": None}
        if lost >= limit:
            update.update(
                status=MessageStatus.DEAD_LETTERED,
                last_error=f"{LOST_CLAIM_ERROR}, {lost} times: given up (a crash loop?)",
                wait_reason="",
            )
        mine.filter(pk=message.pk, status=MessageStatus.SENDING).update(**update)


def release(claim: Claim, *, reason: str, not_before: datetime | None = None) -> None:
    """Give the row back (no slot yet, or Redis down); it waits, it has not failed."""
    update: dict = {"status": MessageStatus.QUEUED, "claim_token": None, "claimed_until": None, "wait_reason": reason}
    if not_before is not None:
        update["next_attempt_at"] = not_before
    OutboundMessage.objects.filter(pk=claim.message.pk, claim_token=claim.token).update(**update)


# --- Wake-ups --------------------------------------------------------------------------------
def _grace() -> timedelta:
    return timedelta(seconds=settings.ONLYFANS_WAKE_GRACE_SECONDS)


def _current_wake(onlyfans_id: str) -> tuple[datetime | None, uuid.UUID | None]:
    """The account's wake-up, its rows locked until the transaction ends."""
    row = (
        OnlyFansAccount.objects.select_for_update()
        .filter(onlyfans_id=onlyfans_id)
        .order_by("pk")
        .values_list("wake_at", "wake_token")
        .first()
    )
    return row if row is not None else (None, None)


def _set_wake(onlyfans_id: str, at: datetime | None, token: uuid.UUID | None) -> None:
    OnlyFansAccount.objects.filter(onlyfans_id=onlyfans_id).update(wake_at=at, wake_token=token)


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
        wake_at, _ = _current_wake(onlyfans_id)
        live = wake_at is not None and wake_at >= now - _grace()
        if live and wake_at <= at:
            return None
        # No live wake-up: the account may hold older messages than this one, due sooner; the
        # consumer looks now and works out the account's real next moment.
        wakeup = Wakeup(uuid.uuid4(), at if live else now)
        _set_wake(onlyfans_id, wakeup.at, wakeup.token)
    return wakeup


def wake_forget(onlyfans_id: str, token: uuid.UUID) -> None:
    """The wake-up `wake_request` armed never reached SQS: forget it, so that the next message
    accepted tries again (the relay arms the account of every pending message meanwhile)."""
    OnlyFansAccount.objects.filter(onlyfans_id=onlyfans_id, wake_token=token).update(wake_at=None, wake_token=None)


def next_need(onlyfans_id: str, *, slots: dict[str, datetime] | None, now: datetime | None = None) -> datetime | None:
    """When the account next needs a consumer: its best lane's next slot if a message of that
    lane is ready, else the earliest not-before of its waiting messages, else never (None).
    `slots` is the limiter's next moment per lane (None: Redis unreachable, look again soon)."""
    now = now or timezone.now()
    waiting = OutboundMessage.objects.filter(account__onlyfans_id=onlyfans_id)
    fallback = now + timedelta(seconds=5)
    for lane in LANE_ORDER:
        if waiting.filter(_ready(now), lane=lane).exists():
            return max(slots[lane], now) if slots else fallback
    if waiting.filter(status=MessageStatus.SENDING).exists():
        return fallback  # a claim is out: its lease is checked then
    later = waiting.filter(status__in=READY).aggregate(at=Min("next_attempt_at"))["at"]
    if later is None:
        return None
    return max(later, slots[Lane.BULK] if slots else later)


def wake_settle(onlyfans_id: str, *, token: uuid.UUID | None, slots: dict[str, datetime] | None) -> datetime | None:
    """After a dispatch: returns when the wake-up in hand (`token`) fires next, or None when it
    is spare (nothing waiting, or another live wake-up covers the account's next need)."""
    now = timezone.now()
    with transaction.atomic():
        wake_at, current = _current_wake(onlyfans_id)
        need = next_need(onlyfans_id, slots=slots, now=now)
        another_live = (
            current is not None
            and current != token
            and wake_at is not None
            and wake_at >= now - _grace()
            and (need is None or wake_at <= need)
        )
        if another_live:
            return None
        _set_wake(onlyfans_id, need, token if need is not None else None)
    return need


def wakeups_overdue(*, limit: int = 1000) -> list[tuple[str, uuid.UUID]]:
    """Accounts whose wake-up is overdue by more than the grace: it was lost (SQS purged or
    restarted) or never sent (SQS down). Each gets a new token, due now, for the caller to send."""
    now = timezone.now()
    ids = list(
        OnlyFansAccount.objects.filter(wake_at__lt=now - _grace())
        .order_by("wake_at")
        .values_list("onlyfans_id", flat=True)[:limit]
    )
    return [(onlyfans_id, _rearm(onlyfans_id, now)) for onlyfans_id in dict.fromkeys(ids)]


def wakeups_rearm_all() -> list[tuple[str, uuid.UUID, float]]:
    """Every account that needs a consumer gets a new wake-up (a consumer's start-up: SQS may have
    lost its contents while nothing ran). Returns (account, token, delay seconds) to send."""
    now = timezone.now()
    out = []
    rows = OnlyFansAccount.objects.filter(wake_at__isnull=False).values_list("onlyfans_id", "wake_at")
    for onlyfans_id, wake_at in dict(rows).items():
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

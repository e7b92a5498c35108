"""Database side of delivery: claiming rows, recording attempts, final states, cancel, redrive.

No function here talks to SQS or the gateway, and none holds a transaction open across them.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from onlyfans import metrics
from onlyfans.gateway import GatewayResult
from onlyfans.models import (
    FINAL_STATUSES,
    AttemptOutcome,
    DeliveryAttempt,
    MessageStatus,
    OnlyFansAccount,
    OutboundMessage,
)

logger = logging.getLogger(__name__)

CLAIMABLE = (MessageStatus.PENDING, MessageStatus.QUEUED)


@dataclass(frozen=True)
class Claim:
    message: OutboundMessage | None
    token: uuid.UUID | None
    # Why there is no claim: "missing", "final", "held".
    skip_reason: str = ""
    held_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.token is not None


def claim(message_id: str) -> Claim:
    """Take the row for this consumer with one conditional UPDATE; any number of consumers may
    race for it and exactly one wins. A claim whose lease ran out (its consumer died) is free."""
    try:
        key = uuid.UUID(message_id)
    except (ValueError, TypeError):
        return Claim(None, None, "missing")
    now = timezone.now()
    token = uuid.uuid4()
    won = OutboundMessage.objects.filter(
        Q(status__in=CLAIMABLE) | Q(status=MessageStatus.SENDING, claimed_until__lt=now), pk=key
    ).update(
        status=MessageStatus.SENDING,
        claim_token=token,
        claimed_until=now + timedelta(seconds=settings.ONLYFANS_CLAIM_LEASE_SECONDS),
    )
    message = OutboundMessage.objects.select_related("account").filter(pk=key).first()
    if message is None:
        return Claim(None, None, "missing")
    if won:
        return Claim(message, token)
    if message.status in FINAL_STATUSES:
        return Claim(message, None, "final")
    return Claim(message, None, "held", held_until=message.claimed_until)


def release(claim_: Claim, *, not_before: datetime) -> None:
    """Give the row back (no slot yet, or Redis down); it waits, it has not failed."""
    OutboundMessage.objects.filter(pk=claim_.message.pk, claim_token=claim_.token).update(
        status=MessageStatus.QUEUED, claim_token=None, claimed_until=None, next_attempt_at=not_before
    )


def rank_in_backlog(message: OutboundMessage) -> int:
    """How many of the account's waiting messages go before this one (priority, then age)."""
    return (
        OutboundMessage.objects.filter(
            account_id=message.account_id, status__in=(MessageStatus.PENDING, MessageStatus.QUEUED)
        )
        .filter(
            Q(priority__gt=message.priority)
            | Q(priority=message.priority, queued_at__lt=message.queued_at)
        )
        .exclude(pk=message.pk)
        .count()
    )


def retry_delay(attempt: int, result: GatewayResult) -> float:
    """429 honours Retry-After; other transient failures back off exponentially with jitter."""
    if result.rate_limited and result.retry_after is not None:
        return result.retry_after
    base = settings.ONLYFANS_RETRY_BASE_SECONDS * (2 ** max(attempt - 1, 0))
    capped = min(base, settings.ONLYFANS_RETRY_MAX_SECONDS)
    return capped / 2 + random.uniform(0, capped / 2)  # noqa: S311 - jitter, not crypto


@dataclass(frozen=True)
class AccountPace:
    limit: int
    last_call_at: datetime | None


def account_pace(onlyfans_id: str) -> AccountPace:
    """The limit that holds for an OnlyFans account, and its last recorded gateway call.

    Several users may run one OnlyFans account; the bucket is shared, so the strictest of
    their limits applies to all of them.
    """
    rows = list(
        OnlyFansAccount.objects.filter(onlyfans_id=onlyfans_id).values_list(
            "rate_limit_per_minute", "last_gateway_call_at"
        )
    )
    limits = [limit or settings.ONLYFANS_RATE_LIMIT_PER_MINUTE for limit, _ in rows]
    calls = [called for _, called in rows if called is not None]
    return AccountPace(
        limit=min(limits, default=settings.ONLYFANS_RATE_LIMIT_PER_MINUTE),
        last_call_at=max(calls, default=None),
    )


@dataclass(frozen=True)
class Recorded:
    outcome: str  # an AttemptOutcome
    retry_in: float = 0.0
    error: str = ""
    # The row was no longer ours (another consumer holds it, or it is already sent): the
    # outcome describes our call only, and the copy we hold must neither retry nor dead-letter.
    superseded: bool = False


def record_attempt(claim_: Claim, result: GatewayResult) -> Recorded:
    """Write the attempt and the message's new state in one short transaction."""
    message = claim_.message
    now = timezone.now()
    with transaction.atomic():
        locked = OutboundMessage.objects.select_for_update().get(pk=message.pk)
        attempt_count = locked.attempt_count + 1
        update: dict = {"attempt_count": attempt_count, "claim_token": None, "claimed_until": None}
        if result.ok:
            outcome, retry_in = AttemptOutcome.SENT, 0.0
            update.update(status=MessageStatus.SENT, sent_at=now, upstream_id=result.upstream_id, last_error="")
        elif result.permanent:
            outcome, retry_in = AttemptOutcome.FAILED, 0.0
            update.update(status=MessageStatus.FAILED, last_error=result.error)
        elif attempt_count >= settings.ONLYFANS_MAX_ATTEMPTS:
            outcome, retry_in = AttemptOutcome.DEAD_LETTERED, 0.0
            update.update(
                status=MessageStatus.DEAD_LETTERED,
                last_error=f"{result.error} (gave up after {attempt_count} attempts)",
            )
        else:
            outcome = AttemptOutcome.RETRY
            retry_in = retry_delay(attempt_count, result)
            update.update(
                status=MessageStatus.QUEUED,
                last_error=result.error,
                next_attempt_at=now + timedelta(seconds=retry_in),
            )
        # Our lease ran out and another consumer took the message over, or a consumer whose
        # lease had run out recorded its success first (it leaves our token on a sent row).
        superseded = locked.claim_token != claim_.token or locked.status == MessageStatus.SENT
        if superseded:
            # A success is still the truth upstream; anything else is the holder's to decide,
            # and nothing may take a sent message back to queued or failed.
            update = {"attempt_count": attempt_count}
            if result.ok and locked.status != MessageStatus.SENT:
                update.update(status=MessageStatus.SENT, sent_at=now, upstream_id=result.upstream_id)
            if result.ok or locked.status == MessageStatus.SENT:
                update.update(claim_token=None, claimed_until=None)  # a sent row holds no claim
        DeliveryAttempt.objects.create(
            message=locked,
            number=locked.attempts.count() + 1,
            attempted_at=now,
            outcome=outcome,
            http_status=result.http_status,
            error=result.error,
            latency_ms=result.latency_ms,
        )
        OutboundMessage.objects.filter(pk=locked.pk).update(**update)
        OnlyFansAccount.objects.filter(onlyfans_id=message.account.onlyfans_id).update(
            last_gateway_call_at=now
        )
    # A superseded call changes nothing unless it delivered: only then does its outcome count.
    _emit(outcome if not superseded or "status" in update else None, message, result)
    logger.info(
        "OnlyFans delivery: attempt recorded",
        extra={
            "messageId": str(message.pk),
            "accountId": message.account_id,
            "outcome": outcome,
            "httpStatus": result.http_status,
            "attempt": attempt_count,
            "latencyMs": result.latency_ms,
            "error": result.error or None,
            "superseded": superseded,
        },
    )
    return Recorded(outcome, retry_in, result.error, superseded=superseded)


def _emit(outcome: str | None, message: OutboundMessage, result: GatewayResult) -> None:
    account = str(message.account_id)
    name = {
        AttemptOutcome.SENT: metrics.SENT,
        AttemptOutcome.FAILED: metrics.FAILED,
        AttemptOutcome.DEAD_LETTERED: metrics.DEAD_LETTERED,
    }.get(outcome)
    if name:
        metrics.emit(name, AccountId=account)
    metrics.emit(metrics.DELIVERY_LATENCY, result.latency_ms, unit="Milliseconds", AccountId=account)


# --- Staff and operator actions -------------------------------------------------------------
CANCELLABLE = (MessageStatus.PENDING, MessageStatus.QUEUED)
REDRIVABLE = (MessageStatus.FAILED, MessageStatus.DEAD_LETTERED)


def messages_cancel(queryset: QuerySet[OutboundMessage]) -> int:
    """Cancel waiting messages (one UPDATE, however many rows); the consumer then skips them."""
    return queryset.filter(status__in=CANCELLABLE).update(
        status=MessageStatus.CANCELLED, last_error="Cancelled by staff.", updated_at=timezone.now()
    )


def messages_redrive(queryset: QuerySet[OutboundMessage]) -> int:
    """Failed or dead-lettered messages get a fresh set of attempts: they go back to `pending`
    and the relay publishes them (one UPDATE here, batched publishing there)."""
    return queryset.filter(status__in=REDRIVABLE).update(
        status=MessageStatus.PENDING,
        attempt_count=0,
        next_attempt_at=None,
        claim_token=None,
        claimed_until=None,
        updated_at=timezone.now(),
    )

"""Database side of delivery: recording attempts, final states, cancel, redrive.

Claiming is the dispatcher's (`onlyfans/scheduler.py`). No function here talks to SQS or the
gateway, and none holds a transaction open across them.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from huntaze.core.errors import Conflict
from onlyfans import metrics
from onlyfans.gateway import GatewayResult
from onlyfans.models import (
    AttemptOutcome,
    DeliveryAttempt,
    MessageStatus,
    OnlyFansAccount,
    OutboundMessage,
    WaitReason,
)

logger = logging.getLogger(__name__)

# A gateway 409 "idempotency key in use": the first call for this message is still running there.
KEY_IN_USE_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class Claim:
    message: OutboundMessage | None
    token: uuid.UUID | None

    @property
    def ok(self) -> bool:
        return self.token is not None


# The attempt `scheduler.claim_next` records when it finds a claim's lease run out (the consumer
# died or stalled mid-attempt). If that consumer was only slow and records its call after all,
# its outcome replaces this row.
LOST_CLAIM_ERROR = "Claim lost: the consumer sending it stopped (killed or stalled) before recording an outcome"


def retry_delay(attempt: int, result: GatewayResult) -> float:
    """429 honours Retry-After; other transient failures back off exponentially with jitter."""
    if result.retry_after is not None:
        # A 429's Retry-After; or a call ended at its deadline: the gateway may still be
        # finishing it, so the retry waits the time it takes to notice the connection closed.
        return result.retry_after
    if result.key_in_use:
        return KEY_IN_USE_RETRY_SECONDS
    base = settings.ONLYFANS_RETRY_BASE_SECONDS * (2 ** max(attempt - 1, 0))
    capped = min(base, settings.ONLYFANS_RETRY_MAX_SECONDS)
    return capped / 2 + random.uniform(0, capped / 2)  # noqa: S311 - jitter, not crypto


@dataclass(frozen=True)
class Recorded:
    outcome: str  # an AttemptOutcome
    retry_in: float = 0.0
    error: str = ""
    # The row was no longer ours (another consumer holds it, or it is already sent): the
    # outcome describes our call only, and the copy we hold must neither retry nor dead-letter.
    superseded: bool = False


def _waiting_outcome(locked: OutboundMessage, result: GatewayResult, now: datetime) -> tuple[str, dict] | None:
    """A 429 within its time budget, or a 409 "key in use": the message waits, the attempt is
    recorded (visible) but not counted towards ONLYFANS_MAX_ATTEMPTS."""
    if result.key_in_use:
        return AttemptOutcome.DEFERRED, {"wait_reason": WaitReason.RETRY_BACKOFF}
    if not result.rate_limited:
        return None
    since = locked.rate_limited_since or now
    if (now - since).total_seconds() > settings.ONLYFANS_RATE_LIMITED_BUDGET_SECONDS:
        return None  # rate limited for too long: from now on each 429 counts
    return AttemptOutcome.RATE_LIMITED, {"wait_reason": WaitReason.GATEWAY_RATE_LIMITED, "rate_limited_since": since}


def record_attempt(claim_: Claim, result: GatewayResult) -> Recorded:
    """Write the attempt and the message's new state in one short transaction."""
    message = claim_.message
    now = timezone.now()
    with transaction.atomic():
        locked = OutboundMessage.objects.select_for_update().get(pk=message.pk)
        attempt_count = locked.attempt_count + 1
        update: dict = {"attempt_count": attempt_count, "claim_token": None, "claimed_until": None}
        waiting = None if result.ok or result.permanent else _waiting_outcome(locked, result, now)
        if result.ok:
            outcome, retry_in = AttemptOutcome.SENT, 0.0
            update.update(
                status=MessageStatus.SENT, sent_at=now, upstream_id=result.upstream_id, last_error="", wait_reason=""
            )
        elif result.permanent:
            outcome, retry_in = AttemptOutcome.FAILED, 0.0
            update.update(status=MessageStatus.FAILED, last_error=result.error, wait_reason="")
        elif waiting is not None:
            outcome, extra = waiting
            retry_in = retry_delay(attempt_count, result)
            update.update(
                extra,
                attempt_count=locked.attempt_count,
                status=MessageStatus.QUEUED,
                last_error=result.error,
                next_attempt_at=now + timedelta(seconds=retry_in),
            )
        elif attempt_count >= settings.ONLYFANS_MAX_ATTEMPTS:
            outcome, retry_in = AttemptOutcome.DEAD_LETTERED, 0.0
            update.update(
                status=MessageStatus.DEAD_LETTERED,
                last_error=f"{result.error} (gave up after {attempt_count} attempts)",
                wait_reason="",
            )
        else:
            outcome = AttemptOutcome.RETRY
            retry_in = retry_delay(attempt_count, result)
            update.update(
                status=MessageStatus.QUEUED,
                last_error=result.error,
                next_attempt_at=now + timedelta(seconds=retry_in),
                wait_reason=WaitReason.RETRY_BACKOFF,
            )
        if not result.rate_limited:
            update["rate_limited_since"] = None
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
        attempt = {
            "outcome": outcome, "http_status": result.http_status, "error": result.error, "latency_ms": result.latency_ms
        }
        lost = (
            locked.attempts.filter(error=LOST_CLAIM_ERROR, http_status__isnull=True).order_by("-number").first()
            if superseded
            else None
        )
        if lost is not None:
            # The lease ran out under a slow consumer, not a dead one: its call replaces the row.
            DeliveryAttempt.objects.filter(pk=lost.pk).update(**attempt)
        else:
            DeliveryAttempt.objects.create(
                message=locked, number=locked.attempts.count() + 1, attempted_at=now, **attempt
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


def message_cancel(*, user, message_id: str) -> OutboundMessage:
    """Cancel one of the user's messages while it waits (pending or queued).

    Another user's message is a 404 (`NotFound`); one being sent or already final is a 409
    (`Conflict`, code `not_cancellable`). Exactly one of cancel and the dispatcher's claim wins:
    both are conditional UPDATEs on the row's status.
    """
    from onlyfans.selectors import message_for_user

    message = message_for_user(user=user, message_id=message_id)
    cancelled = OutboundMessage.objects.filter(pk=message.pk, status__in=CANCELLABLE).update(
        status=MessageStatus.CANCELLED, last_error="Cancelled.", wait_reason="", updated_at=timezone.now()
    )
    message.refresh_from_db()
    if not cancelled:
        raise Conflict(
            f"The message is {message.status}; only a pending or queued message can be cancelled.",
            code="not_cancellable",
        )
    logger.info("OnlyFans delivery: message cancelled", extra={"messageId": str(message.pk), "userId": user.pk})
    return message


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

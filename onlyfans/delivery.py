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
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from huntaze.core.errors import Conflict
from onlyfans import metrics, statements
from onlyfans.gateway import GatewayResult
from onlyfans.models import (
    AttemptOutcome,
    DeliveryAttempt,
    MessageStatus,
    OnlyFansAccount,
    OutboundMessage,
    WaitReason,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

logger = logging.getLogger(__name__)

# A gateway 409 "idempotency key in use": the first call for this message is still running there.
KEY_IN_USE_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class Claim:
    message: OutboundMessage
    token: uuid.UUID | None

    @property
    def ok(self) -> bool:
        return self.token is not None


# The attempt `scheduler.claim_next` records when it finds a claim's lease run out (the consumer
# died or stalled mid-attempt). If that consumer was only slow and records its call after all,
# its outcome replaces this row.
LOST_CLAIM_ERROR = (
    "Claim lost: the consumer sending it stopped (killed or stalled) before recording an outcome"
)


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
    at: datetime | None = None  # when the attempt was recorded (the account's last gateway call)
    attempt: int = 0  # the message's counted attempts after this one
    counts: bool = True  # the outcome changed the message (metrics count it)


def _waiting_outcome(
    locked: OutboundMessage, result: GatewayResult, now: datetime
) -> tuple[AttemptOutcome, dict] | None:
    """A 429 within its time budget, or a 409 "key in use": the message waits, the attempt is
    recorded (visible) but not counted towards ONLYFANS_MAX_ATTEMPTS."""
    if result.key_in_use:
        return AttemptOutcome.DEFERRED, {"wait_reason": WaitReason.RETRY_BACKOFF}
    if not result.rate_limited:
        return None
    since = locked.rate_limited_since or now
    if (now - since).total_seconds() > settings.ONLYFANS_RATE_LIMITED_BUDGET_SECONDS:
        return None  # rate limited for too long: from now on each 429 counts
    return AttemptOutcome.RATE_LIMITED, {
        "wait_reason": WaitReason.GATEWAY_RATE_LIMITED,
        "rate_limited_since": since,
    }


_ATTEMPTS = DeliveryAttempt._meta.db_table
# One statement numbers the attempt and inserts it (rate-limited and deferred attempts are
# numbered too, though `attempt_count` skips them). Written out: built by the ORM, this INSERT
# with its counting subquery cost more Python than the rest of the recording together.
_INSERT_ATTEMPT = (
    f"INSERT INTO {_ATTEMPTS}"
    " (message_id, number, attempted_at, outcome, http_status, error, latency_ms)"
    f" SELECT %s, COUNT(*) + 1, %s, %s, %s, %s, %s FROM {_ATTEMPTS} WHERE message_id = %s"
)


def _record(message_pk: uuid.UUID, now: datetime, result: GatewayResult, outcome: str) -> None:
    message_id = statements.prep(DeliveryAttempt, "message", message_pk)
    attempted_at = statements.prep(DeliveryAttempt, "attempted_at", now)
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_ATTEMPT,
            [
                message_id,
                attempted_at,
                outcome,
                result.http_status,
                result.error,
                result.latency_ms,
                message_id,
            ],
        )


def record_attempt(
    claim_: Claim, result: GatewayResult, *, record_call: bool = True, report: bool = True
) -> Recorded:
    """Write the attempt and the message's new state in one short transaction (or in the
    caller's: `wakeups.delivery_settle` also settles the wake-up, and then records the
    account's last call and reports the outcome itself)."""
    message = claim_.message
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        recorded = _record_sent(claim_, result, now) if result.ok else None
        if recorded is None:
            recorded = _record_locked(claim_, result, now)
        if record_call:
            OnlyFansAccount.objects.filter(onlyfans_id=message.account.onlyfans_id).update(
                last_gateway_call_at=now
            )
    if report:
        report_recorded(claim_, result, recorded)
    return recorded


def _record_sent(claim_: Claim, result: GatewayResult, now: datetime) -> Recorded | None:
    """The common case in two statements: the call succeeded and the claim is still ours (one
    conditional UPDATE says both), then the attempt's INSERT. None: the slow path decides."""
    if claim_.token is None:
        return None  # `claim_token = NULL` would match nothing: the slow path decides
    values = {
        "status": MessageStatus.SENT,
        "sent_at": now,
        "upstream_id": result.upstream_id,
        "last_error": "",
        "wait_reason": "",
        "attempt_count": statements.Sql("attempt_count + 1"),
        "claim_token": None,
        "claimed_until": None,
        "rate_limited_since": None,
    }
    mine = [
        statements.prep(OutboundMessage, "id", claim_.message.pk),
        statements.prep(OutboundMessage, "claim_token", claim_.token),
        MessageStatus.SENDING,
    ]
    updated = statements.update(
        OutboundMessage, values, "id = %s AND claim_token = %s AND status = %s", mine
    )
    if not updated:
        return None
    _record(claim_.message.pk, now, result, AttemptOutcome.SENT)
    return Recorded(AttemptOutcome.SENT, at=now, attempt=claim_.message.attempt_count + 1)


def _record_locked(claim_: Claim, result: GatewayResult, now: datetime) -> Recorded:
    message = claim_.message
    locked = OutboundMessage.objects.select_for_update().get(pk=message.pk)
    attempt_count = locked.attempt_count + 1
    update: dict = {"attempt_count": attempt_count, "claim_token": None, "claimed_until": None}
    waiting = None if result.ok or result.permanent else _waiting_outcome(locked, result, now)
    if result.ok:
        outcome, retry_in = AttemptOutcome.SENT, 0.0
        update.update(
            status=MessageStatus.SENT,
            sent_at=now,
            upstream_id=result.upstream_id,
            last_error="",
            wait_reason="",
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
    lost = (
        locked.attempts.filter(error=LOST_CLAIM_ERROR, http_status__isnull=True)
        .order_by("-number")
        .first()
        if superseded
        else None
    )
    if lost is not None:
        # The lease ran out under a slow consumer, not a dead one: its call replaces the row.
        DeliveryAttempt.objects.filter(pk=lost.pk).update(
            outcome=outcome,
            http_status=result.http_status,
            error=result.error,
            latency_ms=result.latency_ms,
        )
    else:
        _record(locked.pk, now, result, outcome)
    OutboundMessage.objects.filter(pk=locked.pk).update(**update)
    # A superseded call changes nothing unless it delivered: only then does its outcome count.
    counts = not superseded or "status" in update
    return Recorded(
        outcome,
        retry_in,
        result.error,
        superseded=superseded,
        at=now,
        attempt=attempt_count,
        counts=counts,
    )


def report_recorded(claim_: Claim, result: GatewayResult, recorded: Recorded) -> None:
    """Metrics and the log line of a recorded attempt (after its transaction)."""
    message = claim_.message
    _emit(recorded.outcome if recorded.counts else None, message, result)
    logger.info(
        "OnlyFans delivery: attempt recorded",
        extra={
            "messageId": str(message.pk),
            "accountId": message.account_id,
            "outcome": recorded.outcome,
            "httpStatus": result.http_status,
            "attempt": recorded.attempt,
            "latencyMs": result.latency_ms,
            "error": result.error or None,
            "superseded": recorded.superseded,
        },
    )


def _emit(outcome: str | None, message: OutboundMessage, result: GatewayResult) -> None:
    account = str(message.account_id)
    names: dict[str | None, str] = {
        AttemptOutcome.SENT: metrics.SENT,
        AttemptOutcome.FAILED: metrics.FAILED,
        AttemptOutcome.DEAD_LETTERED: metrics.DEAD_LETTERED,
    }
    name = names.get(outcome)
    if name:
        metrics.emit(name, AccountId=account)
    metrics.emit(
        metrics.DELIVERY_LATENCY, result.latency_ms, unit="Milliseconds", AccountId=account
    )


# --- Staff and operator actions -------------------------------------------------------------
CANCELLABLE = MessageStatus.ready()
REDRIVABLE = MessageStatus.failures()


def message_cancel(*, user: User | AnonymousUser, message_id: str) -> OutboundMessage:
    """Cancel one of the user's messages while it waits (pending or queued).

    Another user's message is a 404 (`NotFound`); one being sent or already final is a 409
    (`Conflict`, code `not_cancellable`). Exactly one of cancel and the dispatcher's claim wins:
    both are conditional UPDATEs on the row's status.
    """
    from onlyfans.selectors import message_for_user

    message = message_for_user(user=user, message_id=message_id)
    cancelled = OutboundMessage.objects.filter(pk=message.pk, status__in=CANCELLABLE).update(
        status=MessageStatus.CANCELLED,
        last_error="Cancelled.",
        wait_reason="",
        updated_at=timezone.now(),
    )
    message.refresh_from_db()
    if not cancelled:
        raise Conflict(
            f"The message is {message.status}; only a pending or queued message can be cancelled.",
            code="not_cancellable",
        )
    logger.info(
        "OnlyFans delivery: message cancelled",
        extra={"messageId": str(message.pk), "userId": user.pk},
    )
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

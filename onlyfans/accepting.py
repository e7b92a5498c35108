"""The accepting half of the pipeline: what send and batch do with a message before delivery.

A message is written to the database first (`pending`): the record. Once committed, its
OnlyFans account needs a consumer; if no wake-up is armed for that moment yet, one is sent to SQS
(once, with a short timeout) — accepting for an account that already has a wake-up in flight
needs no SQS call at all. The message is then `queued`. When SQS cannot be reached it stays
`pending` and the relay (`onlyfans/relay.py`) arms the account later. Nothing accepted is lost.

A message sent with `scheduled_at` is not ready before then (`next_attempt_at`, waiting for
"scheduled"). Due within SQS's longest delay (15 minutes), its account's wake-up is armed for
that moment as usual; due later, the wake-up is only written to the database (*parked*,
`wakeups.wake_park`) and the relay sends it to SQS shortly before the time: a message
scheduled for next month has no copy on SQS meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from huntaze.core.errors import Conflict, ServiceUnavailable
from onlyfans import metrics, pacing, sqs, wakeups
from onlyfans.models import (
    DEFAULT_PRIORITY,
    Lane,
    MessageStatus,
    OnlyFansAccount,
    OutboundMessage,
    WaitReason,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

logger = logging.getLogger(__name__)

LOG_PREFIX = "OnlyFansRateLimiterService"
UNREACHABLE = "SQS is unreachable; the relay will queue it."


@dataclass(frozen=True)
class MessageInput:
    recipient_id: str
    content: str
    media_urls: list[str] = field(default_factory=list)
    priority: int = DEFAULT_PRIORITY
    metadata: dict[str, Any] = field(default_factory=dict)
    lane: str = Lane.INTERACTIVE
    scheduled_at: datetime | None = None  # not before this moment (timezone-aware)


@dataclass(frozen=True)
class SendOutcome:
    message: OutboundMessage
    replayed: bool = False  # an Idempotency-Key matched an earlier message
    publish_error: str | None = None


def generate_message_id() -> uuid.UUID:
    return uuid.uuid4()


def ensure_enabled() -> None:
    if not settings.RATE_LIMITER_ENABLED:
        raise ServiceUnavailable(
            "The OnlyFans rate limiter is disabled (RATE_LIMITER_ENABLED=false); "
            "no message is accepted.",
            code="rate_limiter_disabled",
        )


# --- The SQS circuit: after a failure, API requests skip SQS for a few seconds ---------------
class _Circuit:
    def __init__(self) -> None:
        self._open_until = 0.0
        self._lock = threading.Lock()

    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def trip(self) -> None:
        with self._lock:
            self._open_until = time.monotonic() + settings.SQS_OUTAGE_BACKOFF_SECONDS

    def reset(self) -> None:
        with self._lock:
            self._open_until = 0.0


sqs_circuit = _Circuit()


# --- Accepting messages ------------------------------------------------------------------------
def _existing_for_key(
    *,
    user: User | AnonymousUser,
    account: OnlyFansAccount,
    idempotency_key: str,
    data: MessageInput,
) -> OutboundMessage | None:
    # The views admit only signed-in users; request.user's type still includes AnonymousUser.
    mine = OutboundMessage.objects.filter(sender=user)  # type: ignore[misc]
    existing = mine.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    # A replay must be the same request: any difference is a client bug, not a retry.
    stored = (
        existing.account_id,
        existing.recipient_id,
        existing.content,
        list(existing.media_urls),
        existing.priority,
        dict(existing.metadata),
        existing.lane,
        existing.scheduled_at,
    )
    asked = (
        account.pk,
        data.recipient_id,
        data.content,
        list(data.media_urls),
        data.priority,
        dict(data.metadata),
        data.lane,
        data.scheduled_at,
    )
    if stored != asked:
        raise Conflict(
            "This Idempotency-Key was already used for a different message.",
            code="idempotency_key_reused",
        )
    return existing


def message_send(
    *,
    user: User | AnonymousUser,
    account: OnlyFansAccount,
    data: MessageInput,
    idempotency_key: str | None = None,
) -> SendOutcome:
    """Accept one message: write it, then make sure its account has a wake-up."""
    ensure_enabled()
    ensure_account_active(account)
    if idempotency_key:
        existing = _existing_for_key(
            user=user, account=account, idempotency_key=idempotency_key, data=data
        )
        if existing is not None:
            return SendOutcome(existing, replayed=True)
    [estimate] = pacing.estimate_new(account=account, items=[(data.lane, data.priority)])
    try:
        with transaction.atomic():
            message = _create(
                user=user, account=account, data=data, estimate=estimate, key=idempotency_key
            )
    except IntegrityError:
        # Two requests with one Idempotency-Key raced; the first one's row is the answer.
        existing = _existing_for_key(
            user=user, account=account, idempotency_key=idempotency_key or "", data=data
        )
        if existing is None:
            raise
        return SendOutcome(existing, replayed=True)
    errors = publish_after_commit([message])
    logger.info(
        f"{LOG_PREFIX}: message accepted",
        extra={
            "messageId": str(message.id),
            "accountId": account.pk,
            "status": message.status,
            "lane": message.lane,
        },
    )
    return SendOutcome(message, publish_error=errors.get(str(message.id)))


def messages_send_batch(
    *, user: User | AnonymousUser, account: OnlyFansAccount, items: Sequence[MessageInput]
) -> list[SendOutcome]:
    """Accept up to ten messages at once; at most one SQS call arms their account."""
    ensure_enabled()
    ensure_account_active(account)
    estimates = pacing.estimate_new(
        account=account, items=[(item.lane, item.priority) for item in items]
    )
    with transaction.atomic():
        messages = [
            _create(user=user, account=account, data=item, estimate=estimate, key=None)
            for item, estimate in zip(items, estimates, strict=True)
        ]
    errors = publish_after_commit(messages)
    logger.info(
        f"{LOG_PREFIX}: batch accepted",
        extra={
            "accountId": account.pk,
            "count": len(messages),
            "queued": sum(1 for m in messages if m.status == MessageStatus.QUEUED),
        },
    )
    return [SendOutcome(m, publish_error=errors.get(str(m.id))) for m in messages]


def ensure_account_active(account: OnlyFansAccount) -> None:
    """OnlyFans sends nothing from an inactive account: a 409 `account_inactive`."""
    if not account.is_active:
        raise Conflict(
            f"The OnlyFans account @{account.username} is inactive; it cannot send messages.",
            code="account_inactive",
        )


def _create(
    *,
    user: User | AnonymousUser,
    account: OnlyFansAccount,
    data: MessageInput,
    estimate: datetime,
    key: str | None,
) -> OutboundMessage:
    queued_at = timezone.now()
    # Up to a minute in the past (the serializer's tolerance) is due now: nothing to wait for.
    not_before = data.scheduled_at if data.scheduled_at and data.scheduled_at > queued_at else None
    if not_before is not None:
        estimate = max(estimate, not_before)
    return OutboundMessage.objects.create(
        id=generate_message_id(),
        queued_at=queued_at,
        account=account,
        sender=user,  # type: ignore[misc]  # signed in: see _existing_for_key
        recipient_id=data.recipient_id,
        content=data.content,
        media_urls=list(data.media_urls),
        priority=data.priority,
        lane=data.lane,
        metadata=dict(data.metadata),
        status=MessageStatus.PENDING,
        # The estimate was computed a moment before the row: never promise a send in the past.
        estimated_send_time=max(estimate, queued_at),
        scheduled_at=data.scheduled_at,
        next_attempt_at=not_before,
        wait_reason=WaitReason.SCHEDULED if not_before else "",
        idempotency_key=key,
    )


def publish_after_commit(messages: Sequence[OutboundMessage]) -> dict[str, str]:
    """Arm the accounts once the rows are committed (at once outside a transaction). Rows whose
    account could not be armed stay `pending` for the relay. Returns the errors by message id."""
    errors: dict[str, str] = {}

    def publish() -> None:
        errors.update(_arm_inline(messages))

    transaction.on_commit(publish, robust=True)
    return errors


def _arm_inline(messages: Sequence[OutboundMessage]) -> dict[str, str]:
    if sqs_circuit.is_open():
        return {str(m.id): UNREACHABLE for m in messages}
    try:
        return _arm(messages)
    except Exception:
        # The rows are committed: whatever went wrong here, they stay pending for the relay.
        logger.exception(
            f"{LOG_PREFIX}: arming failed unexpectedly", extra={"count": len(messages)}
        )
        return {str(m.id): "Unexpected error; the relay will queue it." for m in messages}


def _arm(messages: Sequence[OutboundMessage]) -> dict[str, str]:
    now = timezone.now()
    by_account: dict[str, list[OutboundMessage]] = {}
    for message in messages:
        by_account.setdefault(message.account.onlyfans_id, []).append(message)
    to_send = []
    parked: list[OutboundMessage] = []
    for onlyfans_id, group in list(by_account.items()):
        first = min((m.estimated_send_time or now) for m in group)
        due = min((m.next_attempt_at or now) for m in group)
        if (due - now).total_seconds() > wakeups.PARK_BEYOND_SECONDS:
            # Only scheduled messages, all due later than SQS can delay: the database holds the
            # wake-up until the relay sends it, shortly before they are due.
            wakeups.wake_park(onlyfans_id, at=due)
            parked.extend(by_account.pop(onlyfans_id))
            continue
        wakeup = wakeups.wake_request(onlyfans_id, at=first)
        if wakeup is not None:
            to_send.append((onlyfans_id, wakeup.token, wakeup.delay_seconds()))
    try:
        results = sqs.send_wakeups(to_send, timeout=settings.SQS_REQUEST_TIMEOUT)
    except sqs.QueueUnavailable as exc:
        for onlyfans_id, token, _ in to_send:
            wakeups.wake_forget(onlyfans_id, token)
        sqs_circuit.trip()
        logger.warning(
            f"{LOG_PREFIX}: SQS unreachable, messages left pending for the relay",
            extra={"count": len(messages), "error": str(exc)},
        )
        mark_queued(parked)
        return {str(m.id): UNREACHABLE for group in by_account.values() for m in group}
    failed = {onlyfans_id for onlyfans_id, token, _ in to_send if results.get(token) is not None}
    for onlyfans_id, token, _ in to_send:
        if onlyfans_id in failed:
            wakeups.wake_forget(onlyfans_id, token)
    mark_queued(
        [
            *parked,
            *(
                m
                for m in messages
                if m.account.onlyfans_id in by_account and m.account.onlyfans_id not in failed
            ),
        ]
    )
    errors = {
        str(m.id): results.get(token) or "SQS refused the wake-up."
        for onlyfans_id, token, _ in to_send
        if onlyfans_id in failed
        for m in by_account[onlyfans_id]
    }
    if errors:
        logger.warning(f"{LOG_PREFIX}: some messages left pending", extra={"errors": errors})
    return errors


def mark_queued(messages: Sequence[OutboundMessage]) -> None:
    """Pending rows whose account has a wake-up armed become `queued`."""
    if not messages:
        return
    now = timezone.now()
    ids = [m.id for m in messages]
    # Only pending rows move: a consumer may already have claimed a fast one.
    OutboundMessage.objects.filter(pk__in=ids, status=MessageStatus.PENDING).update(
        status=MessageStatus.QUEUED, published_at=now
    )
    per_account: Counter[int] = Counter()
    for message in messages:
        if message.status == MessageStatus.PENDING:
            message.status = MessageStatus.QUEUED
            message.published_at = now
        per_account[message.account_id] += 1
        logger.info(
            f"{LOG_PREFIX}: message queued",
            extra={"messageId": str(message.id), "accountId": message.account_id},
        )
    # One datum per account, not per message: a batch of ten is one CloudWatch put.
    for account_id, count in per_account.items():
        metrics.emit(metrics.QUEUED, count, AccountId=str(account_id))

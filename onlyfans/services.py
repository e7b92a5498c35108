"""The accepting half of the pipeline (the seed's OnlyFansRateLimiterService, in Python).

A message is written to the database first (`pending`), then published to SQS. An API request
tries SQS once with a short timeout; whatever it could not publish stays `pending` and the
relay (`messages_publish_pending`, run by Celery beat and `manage.py publish_pending`)
publishes it once SQS answers again. Nothing accepted is lost.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from huntaze.core.errors import Conflict, ServiceUnavailable
from onlyfans import bucket, delivery, metrics, queue, selectors
from onlyfans.models import MessageStatus, OnlyFansAccount, OutboundMessage

logger = logging.getLogger(__name__)

LOG_PREFIX = "OnlyFansRateLimiterService"
# The seed's publishing retries: after a failure, wait 1 s, 2 s, then 4 s before trying again.
PUBLISH_RETRY_DELAYS: tuple[float, ...] = (1, 2, 4)
# A queued message whose copy has not been seen this long after it was due is republished.
LOST_COPY_GRACE = timedelta(minutes=15)


@dataclass(frozen=True)
class MessageInput:
    recipient_id: str
    content: str
    media_urls: list[str] = field(default_factory=list)
    priority: int = 5
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendOutcome:
    message: OutboundMessage
    replayed: bool = False  # an Idempotency-Key matched an earlier message
    publish_error: str | None = None


@dataclass
class PublishReport:
    published: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    # SQS could not be reached even after the retries: everything left stays pending.
    unreachable: bool = False


def generate_message_id() -> uuid.UUID:
    return uuid.uuid4()


def ensure_enabled() -> None:
    if not settings.RATE_LIMITER_ENABLED:
        raise ServiceUnavailable(
            "The OnlyFans rate limiter is disabled (RATE_LIMITER_ENABLED=false); no message is accepted.",
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


# --- Estimates ---------------------------------------------------------------------------------
def estimate_send_times(*, account: OnlyFansAccount, priorities: Sequence[int]) -> list[datetime]:
    """When each new message should go out: the account's next free slot, plus its position in
    the account's backlog (messages of equal or higher priority already waiting) times the
    slot interval. The limit is the one the consumer spaces this OnlyFans account's slots by
    (the strictest of the users who share it)."""
    limit = delivery.account_pace(account.onlyfans_id).limit
    interval = timedelta(seconds=bucket.slot_interval_seconds(limit))
    now = timezone.now()
    try:
        next_slot = max(bucket.peek(account.onlyfans_id, limit=limit).next_slot_at, now)
    except bucket.BucketUnavailable:
        next_slot = now
    estimates = []
    added: list[int] = []
    for priority in priorities:
        ahead = selectors.backlog_ahead(account=account, priority=priority)
        ahead += sum(1 for earlier in added if earlier >= priority)
        estimates.append(next_slot + interval * ahead)
        added.append(priority)
    return estimates


# --- Accepting messages ------------------------------------------------------------------------
def _existing_for_key(
    *, user, account: OnlyFansAccount, idempotency_key: str, data: MessageInput
) -> OutboundMessage | None:
    existing = OutboundMessage.objects.filter(sender=user, idempotency_key=idempotency_key).first()
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
    )
    asked = (
        account.pk,
        data.recipient_id,
        data.content,
        list(data.media_urls),
        data.priority,
        dict(data.metadata),
    )
    if stored != asked:
        raise Conflict(
            "This Idempotency-Key was already used for a different message.",
            code="idempotency_key_reused",
        )
    return existing


def message_send(
    *,
    user,
    account: OnlyFansAccount,
    data: MessageInput,
    idempotency_key: str | None = None,
) -> SendOutcome:
    """Accept one message: write it, then try to put it on the queue."""
    ensure_enabled()
    _ensure_account_active(account)
    if idempotency_key:
        existing = _existing_for_key(
            user=user, account=account, idempotency_key=idempotency_key, data=data
        )
        if existing is not None:
            return SendOutcome(existing, replayed=True)
    [estimate] = estimate_send_times(account=account, priorities=[data.priority])
    try:
        with transaction.atomic():
            message = _create(user=user, account=account, data=data, estimate=estimate, key=idempotency_key)
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
        extra={"messageId": str(message.id), "accountId": account.pk, "status": message.status},
    )
    return SendOutcome(message, publish_error=errors.get(str(message.id)))


def messages_send_batch(
    *, user, account: OnlyFansAccount, items: Sequence[MessageInput]
) -> list[SendOutcome]:
    """Accept up to ten messages at once; one SendMessageBatch call publishes them."""
    ensure_enabled()
    _ensure_account_active(account)
    estimates = estimate_send_times(account=account, priorities=[item.priority for item in items])
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


def _ensure_account_active(account: OnlyFansAccount) -> None:
    if not account.is_active:
        raise Conflict(
            f"The OnlyFans account @{account.username} is inactive; it cannot send messages.",
            code="account_inactive",
        )


def _create(*, user, account, data: MessageInput, estimate: datetime, key: str | None) -> OutboundMessage:
    queued_at = timezone.now()
    return OutboundMessage.objects.create(
        id=generate_message_id(),
        queued_at=queued_at,
        account=account,
        sender=user,
        recipient_id=data.recipient_id,
        content=data.content,
        media_urls=list(data.media_urls),
        priority=data.priority,
        metadata=dict(data.metadata),
        status=MessageStatus.PENDING,
        # The estimate was computed a moment before the row: never promise a send in the past.
        estimated_send_time=max(estimate, queued_at),
        idempotency_key=key,
    )


def publish_after_commit(messages: Sequence[OutboundMessage]) -> dict[str, str]:
    """Publish once the rows are committed (at once outside a transaction). Rows that could not
    be published stay `pending` for the relay. Returns the errors by message id."""
    errors: dict[str, str] = {}

    def publish() -> None:
        errors.update(_publish_inline(messages))

    transaction.on_commit(publish, robust=True)
    return errors


def _publish_inline(messages: Sequence[OutboundMessage]) -> dict[str, str]:
    if sqs_circuit.is_open():
        return {str(m.id): "SQS is unreachable; the relay will publish it." for m in messages}
    try:
        results = queue.publish(
            [(str(m.id), m.account_id) for m in messages], timeout=settings.SQS_REQUEST_TIMEOUT
        )
    except queue.QueueUnavailable as exc:
        sqs_circuit.trip()
        logger.warning(
            f"{LOG_PREFIX}: SQS unreachable, messages left pending for the relay",
            extra={"count": len(messages), "error": str(exc)},
        )
        return {str(m.id): "SQS is unreachable; the relay will publish it." for m in messages}
    _mark_published([m for m in messages if results.get(str(m.id), "missing") is None])
    errors = {mid: reason for mid, reason in results.items() if reason is not None}
    for message in messages:
        if str(message.id) not in results:
            errors[str(message.id)] = "SQS did not answer for this entry."
    if errors:
        logger.warning(f"{LOG_PREFIX}: some messages left pending", extra={"errors": errors})
    return errors


def _mark_published(messages: Sequence[OutboundMessage]) -> None:
    if not messages:
        return
    now = timezone.now()
    ids = [m.id for m in messages]
    # Only pending rows move: a consumer may already have claimed a fast one.
    OutboundMessage.objects.filter(pk__in=ids, status=MessageStatus.PENDING).update(
        status=MessageStatus.QUEUED, published_at=now, next_attempt_at=now
    )
    OutboundMessage.objects.filter(pk__in=ids, status=MessageStatus.QUEUED).update(
        next_attempt_at=now
    )
    # A claim long past its lease belongs to a dead consumer: the new copy starts afresh.
    OutboundMessage.objects.filter(
        pk__in=ids, status=MessageStatus.SENDING, claimed_until__lt=now - LOST_COPY_GRACE
    ).update(status=MessageStatus.QUEUED, claim_token=None, claimed_until=None, next_attempt_at=now)
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


# --- The relay -----------------------------------------------------------------------------------
def messages_to_publish(*, limit: int) -> list[OutboundMessage]:
    """Pending rows, and rows whose SQS copy is long overdue (lost): queued ones that never
    came back, and claims whose consumer died and whose copy is gone too."""
    overdue = timezone.now() - LOST_COPY_GRACE
    return list(
        OutboundMessage.objects.filter(
            Q(status=MessageStatus.PENDING)
            | Q(status=MessageStatus.QUEUED, next_attempt_at__lt=overdue)
            | Q(status=MessageStatus.SENDING, claimed_until__lt=overdue)
        )
        .select_related(None)
        .order_by("-priority", "queued_at")[:limit]
    )


def messages_publish_pending(
    *,
    limit: int = 1000,
    retry_delays: Sequence[float] = PUBLISH_RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int, int], None] | None = None,
) -> PublishReport:
    """Publish what the API could not, retrying a failing SQS with the seed's backoff."""
    report = PublishReport()
    rows = messages_to_publish(limit=limit)
    for start in range(0, len(rows), queue.SQS_MAX_BATCH):
        chunk = rows[start : start + queue.SQS_MAX_BATCH]
        results = _publish_with_retries(chunk, retry_delays=retry_delays, sleep=sleep)
        if results is None:
            report.unreachable = True
            report.failed += len(rows) - start
            report.errors.append("SQS is unreachable; every remaining message stays pending.")
            break
        _mark_published([m for m in chunk if results.get(str(m.id), "missing") is None])
        for message in chunk:
            reason = results.get(str(message.id), "SQS did not answer for this entry.")
            if reason is None:
                report.published += 1
            else:
                report.failed += 1
                report.errors.append(f"{message.id}: {reason}")
        if progress:
            progress(min(start + len(chunk), len(rows)), len(rows))
    if report.published:
        sqs_circuit.reset()
    if rows:
        logger.info(
            f"{LOG_PREFIX}: relay published pending messages",
            extra={"published": report.published, "failed": report.failed},
        )
    return report


def _publish_with_retries(chunk, *, retry_delays, sleep) -> dict[str, str | None] | None:
    entries = [(str(m.id), m.account_id) for m in chunk]
    for attempt in range(len(retry_delays) + 1):
        try:
            return queue.publish(entries)
        except queue.QueueUnavailable as exc:
            logger.warning(
                f"{LOG_PREFIX}: publish attempt failed",
                extra={"attempt": attempt + 1, "error": str(exc)},
            )
            if attempt < len(retry_delays):
                sleep(retry_delays[attempt])
    return None

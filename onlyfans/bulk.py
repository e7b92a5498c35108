"""Bulk-lane sending for mass messages (campaigns): many rows in one INSERT, one wake-up for
their account, holds while a sender pauses, and the bulk pace for forecasts.

Accepting one message (`accepting.message_send`) writes a row and arms its account; a campaign
of 100,000 fans would pay that per message. Here a batch of rows costs one INSERT, one UPDATE and
at most one SQS call. The rows follow the same rules afterwards: the dispatcher picks them in
lane order like any other message, and a row whose account could not be armed stays `pending`
for the relay.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from huntaze.core.sql import insert_values
from onlyfans import limiter, metrics, pacing, scheduler, sqs
from onlyfans.accepting import MessageInput, ensure_enabled
from onlyfans.models import MessageStatus, OnlyFansAccount, OutboundMessage, WaitReason

logger = logging.getLogger(__name__)

LOG_PREFIX = "OnlyFansRateLimiterService"
# A held message is not ready before this moment: the dispatcher and the relay pass over it
# without knowing why; releasing it makes it ready at once.
HOLD_UNTIL = datetime(9999, 1, 1, tzinfo=UTC)
READY = MessageStatus.ready()


def messages_enqueue_bulk(
    *, user, account: OnlyFansAccount, items: Sequence[MessageInput], held: bool = False
) -> list[uuid.UUID]:
    """Write the messages in one batch (inside the caller's transaction, if any) and arm their
    account once that commits; their ids, in the order of `items`. `held` rows wait until
    `messages_release`."""
    ensure_enabled()
    if not items:
        return []
    now = timezone.now()
    fixed = {field.attname: field.get_default() for field in _FIELDS}
    fixed.update(
        account_id=account.pk,
        sender_id=getattr(user, "pk", None),
        status=MessageStatus.PENDING,
        queued_at=now,
        next_attempt_at=HOLD_UNTIL if held else None,
        wait_reason=WaitReason.SCHEDULED if held else "",
        updated_at=now,  # auto_now, as save() would set it
    )
    ids = [uuid.uuid4() for _ in items]
    per_item: dict[str, list[Any]] = {
        "id": ids,
        "recipient_id": [item.recipient_id for item in items],
        "content": [item.content for item in items],
        "media_urls": [list(item.media_urls) for item in items],
        "priority": [item.priority for item in items],
        "lane": [item.lane for item in items],
        "metadata": [dict(item.metadata) for item in items],
    }
    columns = [
        _prepared(field, per_item[field.attname]) if field.attname in per_item else [_prep(field, fixed[field.attname])] * len(items)
        for field in _FIELDS
    ]
    insert_values(OutboundMessage, _FIELDS, list(zip(*columns, strict=True)))
    _arm_after_commit(account, ids)
    return ids


_FIELDS = [field for field in OutboundMessage._meta.concrete_fields]


def _prep(field, value):
    return field.get_db_prep_save(value, connection)


def _prepared(field, values: list) -> list:
    """One column's values for the database. Django's bulk_create prepares each of the 26
    fields of each row in Python (~0.1 ms a message, more than the database's own work); a mass
    message's rows share most values, so each distinct value is prepared once."""
    cache: dict = {}
    out = []
    for value in values:
        key = repr(value) if isinstance(value, dict | list) else (type(value), value)
        if key not in cache:
            cache[key] = _prep(field, value)
        out.append(cache[key])
    return out


def messages_hold(messages: QuerySet[OutboundMessage]) -> int:
    """Not ready until released (only messages not yet picked: one being sent finishes)."""
    return messages.filter(status__in=READY).update(next_attempt_at=HOLD_UNTIL, wait_reason=WaitReason.SCHEDULED)


def messages_release(messages: QuerySet[OutboundMessage], *, account: OnlyFansAccount) -> int:
    held = list(messages.filter(status__in=READY, next_attempt_at=HOLD_UNTIL).values_list("pk", flat=True))
    released = OutboundMessage.objects.filter(pk__in=held).update(next_attempt_at=None, wait_reason="")
    if released:
        _arm_after_commit(account, held)
    return released


def _arm_after_commit(account: OnlyFansAccount, message_ids: list) -> None:
    def arm() -> None:
        onlyfans_id = account.onlyfans_id
        wakeup = scheduler.wake_request(onlyfans_id)
        if wakeup is not None:
            token = wakeup.token
            try:
                results = sqs.send_wakeups(
                    [(onlyfans_id, token, wakeup.delay_seconds())], timeout=settings.SQS_REQUEST_TIMEOUT
                )
            except sqs.QueueUnavailable as exc:
                scheduler.wake_forget(onlyfans_id, token)
                logger.warning(
                    f"{LOG_PREFIX}: SQS unreachable, bulk messages left pending for the relay",
                    extra={"accountId": account.pk, "count": len(message_ids), "error": str(exc)},
                )
                return
            if results.get(token) is not None:
                scheduler.wake_forget(onlyfans_id, token)
                return
        queued = OutboundMessage.objects.filter(pk__in=message_ids, status=MessageStatus.PENDING).update(
            status=MessageStatus.QUEUED, published_at=timezone.now()
        )
        metrics.emit(metrics.QUEUED, queued, AccountId=str(account.pk))
        logger.info(f"{LOG_PREFIX}: bulk messages queued", extra={"accountId": account.pk, "count": queued})

    transaction.on_commit(arm, robust=True)


def bulk_rate_per_minute(account: OnlyFansAccount) -> float:
    """Bulk deliveries per minute the account's limiter allows while replies leave room: one per
    bulk pace (window / (limit − reserve))."""
    limit = pacing.effective_limits([account.onlyfans_id])[account.onlyfans_id]
    return 60.0 / limiter.params_for(limit).bulk_pace

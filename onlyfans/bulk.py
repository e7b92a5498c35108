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
READY = (MessageStatus.PENDING, MessageStatus.QUEUED)


def messages_enqueue_bulk(
    *, user, account: OnlyFansAccount, items: Sequence[MessageInput], held: bool = False
) -> list[OutboundMessage]:
    """Write the messages in one batch (inside the caller's transaction, if any) and arm their
    account once that commits. `held` rows wait until `messages_release`."""
    ensure_enabled()
    now = timezone.now()
    base = {field.attname: field.get_default() for field in _FIELDS}
    base.update(
        account_id=account.pk,
        sender_id=getattr(user, "pk", None),
        status=MessageStatus.PENDING,
        queued_at=now,
        next_attempt_at=HOLD_UNTIL if held else None,
        wait_reason=WaitReason.SCHEDULED if held else "",
        updated_at=now,  # auto_now, as save() would set it
    )
    names = [field.attname for field in _FIELDS]
    lines = []
    for item in items:
        row = {
            **base,
            "id": uuid.uuid4(),
            "recipient_id": item.recipient_id,
            "content": item.content,
            "media_urls": list(item.media_urls),
            "priority": item.priority,
            "lane": item.lane,
            "metadata": dict(item.metadata),
        }
        lines.append([row[name] for name in names])
    _insert(lines)
    # Instances as a query would return them (positional: the fast path of Model.__init__).
    rows = [OutboundMessage.from_db(connection.alias, None, line) for line in lines]
    if rows:
        _arm_after_commit(account, [row.pk for row in rows])
    return rows


_FIELDS = [field for field in OutboundMessage._meta.concrete_fields]


def _insert(lines: list[list]) -> None:
    """The rows in multi-row INSERTs (huntaze.core.sql). Django's bulk_create prepares
    each of the 26 fields of each row in Python (~0.1 ms a message, more than the database's own
    work); a mass message's rows differ in little more than id and recipient, so each distinct
    value of a column is prepared once. Same rows, same defaults, same constraints."""
    if not lines:
        return
    prepared: list[dict] = [{} for _ in _FIELDS]
    values = []
    for line in lines:
        out = []
        for index, value in enumerate(line):
            key = repr(value) if isinstance(value, dict | list) else (type(value), value)
            cache = prepared[index]
            if key not in cache:
                cache[key] = _FIELDS[index].get_db_prep_save(value, connection)
            out.append(cache[key])
        values.append(out)
    insert_values(OutboundMessage, _FIELDS, values)


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
        token = scheduler.wake_request(onlyfans_id)
        if token is not None:
            try:
                results = sqs.send_wakeups([(onlyfans_id, token, 0.0)], timeout=settings.SQS_REQUEST_TIMEOUT)
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

"""Bulk-lane sending for mass messages (campaigns): many rows in one INSERT, one wake-up for
their account, and holds while a sender pauses (the bulk pace for forecasts is a read:
`selectors.bulk_rate_per_minute`).

Accepting one message (`accepting.message_send`) writes a row and arms its account; a campaign
of 100,000 fans would pay that per message. Here a batch of rows costs one INSERT … SELECT (the
rows already `queued`) and, only when the account has no live wake-up, one SQS call after commit.
The rows follow the same rules afterwards: the dispatcher picks them in lane order like any other
message; a wake-up that could not be sent stays overdue in the database for the relay.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from huntaze.core.sql import column_of, rows_from
from onlyfans import metrics, sqs, wakeups
from onlyfans.accepting import ensure_enabled
from onlyfans.models import (
    DEFAULT_PRIORITY,
    Lane,
    MessageStatus,
    OnlyFansAccount,
    OutboundMessage,
    WaitReason,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

LOG_PREFIX = "OnlyFansRateLimiterService"
# A held message is not ready before this moment: the dispatcher and the relay pass over it
# without knowing why; releasing it makes it ready at once.
HOLD_UNTIL = datetime(9999, 1, 1, tzinfo=UTC)
READY = MessageStatus.ready()


def messages_enqueue_bulk(
    *,
    user: User | None,
    account: OnlyFansAccount,
    recipient_ids: Sequence[str],
    content: str,
    media_urls: Sequence[str] = (),
    priority: int = DEFAULT_PRIORITY,
    metadata: dict | None = None,
    lane: str = Lane.BULK,
    held: bool = False,
    arm: bool = True,
    ids: Sequence[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """One message per recipient, all alike but for the recipient, in one INSERT … SELECT, already
    `queued` (or held until `messages_release`); their ids, in the order of `recipient_ids`.

    Inside the caller's transaction, if any. The values every row shares are sent once; only the
    ids and the recipients travel per row (two arrays on PostgreSQL, a JSON array on SQLite): no
    Python object or field preparation per message. The account's wake-up is armed in the same
    transaction (`wakeups.wake_request`, usually nothing to do: one is live) and sent to SQS
    after commit; if that send fails or the process dies first, the wake-up stays overdue in the
    database and the relay sends it again within `ONLYFANS_WAKE_GRACE_SECONDS` plus one period.

    `ids`: the messages' ids, one per recipient, when the caller derives them (a campaign's from
    its recipients, so that the link to each is known without reading the rows back); random
    otherwise."""
    ensure_enabled()
    if not recipient_ids:
        return []
    now = timezone.now()
    message_ids = [uuid.uuid4() for _ in recipient_ids] if ids is None else list(ids)
    if len(message_ids) != len(recipient_ids):
        raise ValueError("one id per recipient")
    shared = {field.attname: field.get_default() for field in _FIELDS}
    shared.update(
        account_id=account.pk,
        sender_id=getattr(user, "pk", None),
        content=content,
        media_urls=list(media_urls),
        priority=priority,
        lane=lane,
        metadata=dict(metadata or {}),
        status=MessageStatus.QUEUED,
        queued_at=now,
        published_at=now,
        next_attempt_at=HOLD_UNTIL if held else None,
        wait_reason=WaitReason.HELD if held else "",
        updated_at=now,  # auto_now, as save() would set it
    )
    with transaction.atomic():
        _insert_alike(shared, message_ids, list(recipient_ids))
        if not held and arm:
            arm_in_transaction(account, len(message_ids))
    _metrics_after_commit(account, 0 if held else len(message_ids))
    return message_ids


_FIELDS = [field for field in OutboundMessage._meta.concrete_fields]
_PER_ROW = ("id", "recipient_id")


def _insert_alike(shared: dict, ids: list[uuid.UUID], recipient_ids: list[str]) -> None:
    quote = connection.ops.quote_name
    table = quote(OutboundMessage._meta.db_table)
    columns = ", ".join(quote(column_of(field)) for field in _FIELDS)
    postgres = connection.vendor == "postgresql"
    selected, params = [], []
    for field in _FIELDS:
        if field.attname in _PER_ROW:
            selected.append(f"v.{field.attname}")
            continue
        # PostgreSQL types a bare parameter in a SELECT list as text: say the column's type.
        selected.append(f"%s::{field.db_type(connection)}" if postgres else "%s")
        params.append(field.get_db_prep_save(shared[field.attname], connection))
    select = ", ".join(selected)
    # Its hex: what SQLite's column holds, and PostgreSQL's uuid reads.
    rows = list(zip([pk.hex for pk in ids], recipient_ids, strict=True))
    source, per_row = rows_from("v", [("id", "uuid"), ("recipient_id", "varchar")], rows)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {select} FROM {source} "
            # A caller's id already there is that message, written before: not a second one.
            # (WHERE: without it SQLite reads the ON of ON CONFLICT as a join's.)
            f"WHERE true ON CONFLICT (id) DO NOTHING",
            [*params, *per_row],
        )


def arm_in_transaction(account: OnlyFansAccount, count: int) -> None:
    """The account's wake-up, recorded with the rows; sent to SQS once they are committed.

    It locks the account's rows until the transaction ends (every claim and accept of the
    account waits meanwhile): a caller that writes more in the same transaction passes
    `arm=False` to `messages_enqueue_bulk` and calls this last."""
    onlyfans_id = account.onlyfans_id
    wakeup = wakeups.wake_request(onlyfans_id)
    if wakeup is None:
        return  # a live wake-up covers the account: it sees these rows when it fires

    def send() -> None:
        try:
            results = sqs.send_wakeups(
                [(onlyfans_id, wakeup.token, wakeup.delay_seconds())],
                timeout=settings.SQS_REQUEST_TIMEOUT,
            )
            error = results.get(wakeup.token)
        except sqs.QueueUnavailable as exc:
            error = str(exc)
        if error is not None:
            # Not forgotten: the wake-up stays in the database, overdue, and the relay resends it.
            logger.warning(
                f"{LOG_PREFIX}: bulk wake-up not sent; the relay sends it again",
                extra={"accountId": account.pk, "count": count, "error": error},
            )

    transaction.on_commit(send, robust=True)


def _metrics_after_commit(account: OnlyFansAccount, count: int) -> None:
    if not count:
        return

    def emit() -> None:
        metrics.emit(metrics.QUEUED, count, AccountId=str(account.pk))
        logger.info(
            f"{LOG_PREFIX}: bulk messages queued", extra={"accountId": account.pk, "count": count}
        )

    transaction.on_commit(emit, robust=True)


def messages_hold(messages: QuerySet[OutboundMessage]) -> int:
    """Not ready until released (only messages not yet picked: one being sent finishes, and one
    handed back meanwhile — no slot, a retry — is held by the next call). Rows already held are
    left alone, so calling it again costs no write."""
    return (
        messages.filter(status__in=READY)
        .exclude(next_attempt_at=HOLD_UNTIL)
        .update(next_attempt_at=HOLD_UNTIL, wait_reason=WaitReason.HELD)
    )


def messages_release(messages: QuerySet[OutboundMessage], *, account: OnlyFansAccount) -> int:
    held = list(
        messages.filter(status__in=READY, next_attempt_at=HOLD_UNTIL).values_list("pk", flat=True)
    )
    released = OutboundMessage.objects.filter(pk__in=held).update(
        next_attempt_at=None, wait_reason=""
    )
    if released:
        _arm_after_commit(account, held)
    return released


def _arm_after_commit(account: OnlyFansAccount, message_ids: list) -> None:
    def arm() -> None:
        onlyfans_id = account.onlyfans_id
        wakeup = wakeups.wake_request(onlyfans_id)
        if wakeup is not None:
            token = wakeup.token
            try:
                results = sqs.send_wakeups(
                    [(onlyfans_id, token, wakeup.delay_seconds())],
                    timeout=settings.SQS_REQUEST_TIMEOUT,
                )
            except sqs.QueueUnavailable as exc:
                wakeups.wake_forget(onlyfans_id, token)  # the relay sends it on its next run
                logger.warning(
                    f"{LOG_PREFIX}: SQS unreachable, the relay arms the released messages",
                    extra={"accountId": account.pk, "count": len(message_ids), "error": str(exc)},
                )
                return
            if results.get(token) is not None:
                wakeups.wake_forget(onlyfans_id, token)
                return
        # Bulk rows are written queued (messages_enqueue_bulk): released, they are queued again.
        metrics.emit(metrics.QUEUED, len(message_ids), AccountId=str(account.pk))
        logger.info(
            f"{LOG_PREFIX}: bulk messages released",
            extra={"accountId": account.pk, "count": len(message_ids)},
        )

    transaction.on_commit(arm, robust=True)

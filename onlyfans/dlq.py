"""Moving dead-lettered messages back to the main queue (moto lacks StartMessageMoveTask, and
the rows must move back to `queued` with the copies anyway)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone

from huntaze.core.ids import parse_uuid
from onlyfans import sqs, wakeups
from onlyfans.models import MessageStatus, OutboundMessage

logger = logging.getLogger(__name__)

# The row states a DLQ copy can be redriven from: our own dead-lettering and failures, and
# messages SQS's redrive policy moved there while their row still says queued or sending.
REDRIVABLE_FROM = (
    MessageStatus.DEAD_LETTERED,
    MessageStatus.FAILED,
    MessageStatus.QUEUED,
    MessageStatus.PENDING,
    MessageStatus.SENDING,
)


# How long a dry run keeps the DLQ messages it has counted out of sight, so it counts each once.
DRY_RUN_HOLD_SECONDS = 60


@dataclass
class RedriveReport:
    seen: int = 0
    redriven: int = 0
    discarded: int = 0  # copies of messages already sent or cancelled, or unknown
    message_ids: list[str] = field(default_factory=list)


def dlq_redrive(
    *,
    limit: int | None = None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> RedriveReport:
    """Receive from the DLQ in batches; each copy is republished on the main queue with its row
    back to `queued` (a fresh set of attempts), then deleted from the DLQ. In a dry run the
    copies are made visible again at once and nothing changes."""
    report = RedriveReport()
    dlq_url = sqs.dlq_url()
    held: list[sqs.QueuedMessage] = []  # dry run: kept invisible until the end, then released
    try:
        while limit is None or report.seen < limit:
            want = (
                sqs.SQS_MAX_BATCH if limit is None else min(sqs.SQS_MAX_BATCH, limit - report.seen)
            )
            batch = sqs.receive(
                max_messages=want,
                wait_seconds=0,
                queue_url=dlq_url,
                visibility_timeout=DRY_RUN_HOLD_SECONDS,
            )
            if not batch:
                break
            for copy in batch:
                report.seen += 1
                if copy.onlyfans_id and not dry_run:
                    # A wake-up SQS's redrive policy moved here: the account gets a new one.
                    arm(copy.onlyfans_id)
                row = _row(copy.message_id)
                if dry_run:
                    redrivable = row is not None and _redrivable().filter(pk=row.pk).exists()
                    held.append(copy)
                else:
                    redrivable = row is not None and _requeue_row(row)
                if redrivable:
                    report.redriven += 1
                    report.message_ids.append(copy.message_id)
                else:
                    report.discarded += 1
                if not dry_run:
                    sqs.delete(copy.receipt_handle, queue_url=dlq_url)
            if progress:
                progress(report.seen)
    finally:
        for copy in held:
            sqs.set_visibility(copy.receipt_handle, 0, queue_url=dlq_url)
    logger.info(
        "OnlyFans DLQ redrive",
        extra={
            "seen": report.seen,
            "redriven": report.redriven,
            "discarded": report.discarded,
            "dryRun": dry_run,
        },
    )
    return report


def _redrivable() -> QuerySet[OutboundMessage]:
    """Rows a DLQ copy may be redriven from. A claim whose lease still runs belongs to a live
    consumer delivering the message through its own copy: taking the row from it would let a
    second consumer call the gateway for the same message at the same time."""
    return OutboundMessage.objects.filter(status__in=REDRIVABLE_FROM).exclude(
        status=MessageStatus.SENDING, claimed_until__gte=timezone.now()
    )


def _requeue_row(row: OutboundMessage) -> bool:
    """Back to queued with a fresh set of attempts, and a copy on the main queue; False when
    the row is not (or no longer) redrivable: then its DLQ copy is only a duplicate."""
    now = timezone.now()
    moved = (
        _redrivable()
        .filter(pk=row.pk)
        .update(
            status=MessageStatus.QUEUED,
            attempt_count=0,
            claim_token=None,
            claimed_until=None,
            next_attempt_at=now,
            published_at=now,
            wait_reason="",
        )
    )
    if moved:
        arm(row.account.onlyfans_id)
    return bool(moved)


def arm(onlyfans_id: str) -> None:
    """The account needs a consumer now: a wake-up, unless one is already armed."""
    wakeup = wakeups.wake_request(onlyfans_id)
    if wakeup is not None:
        sqs.send_wakeups([(onlyfans_id, wakeup.token, wakeup.delay_seconds())])


def _row(message_id: str) -> OutboundMessage | None:
    key = parse_uuid(message_id)
    if key is None:
        return None
    return OutboundMessage.objects.select_related("account").filter(pk=key).first()

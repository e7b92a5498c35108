"""The pipeline's status: GET /api/onlyfans/messages/status, `manage.py queue_status`, the admin.

Two views of one shape. Staff (and operators) see the whole pipeline: SQS' own depth, in-flight
and DLQ numbers, every account's backlog. Anyone else sees only their own accounts' messages,
counted in the database (the record), so that one tenant never learns another's traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from huntaze.core.errors import ServiceUnavailable
from huntaze.core.formats import iso_z
from onlyfans import backlog, limiter, pacing, selectors, sqs
from onlyfans.models import Lane, MessageStatus, OnlyFansAccount

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

# SQS' numbers are approximate anyway: a status polled by many clients reads them once per
# this many seconds per process, not two GetQueueAttributes calls per request.
SQS_ATTRIBUTES_MAX_AGE_SECONDS = 3.0


@dataclass(frozen=True)
class QueueStatus:
    depth: int
    in_flight: int
    dlq_count: int
    total: int
    estimated_time_seconds: int
    rate_limit: str
    last_processed_at: datetime | None
    health_status: str
    health_message: str
    timestamp: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": {
                "depth": self.depth,
                "inFlight": self.in_flight,
                "dlqCount": self.dlq_count,
                "total": self.total,
            },
            "processing": {
                "estimatedTimeSeconds": self.estimated_time_seconds,
                "rateLimit": self.rate_limit,
                "lastProcessedAt": iso_z(self.last_processed_at),
            },
            "health": {"status": self.health_status, "message": self.health_message},
            "timestamp": iso_z(self.timestamp),
        }


@dataclass(frozen=True)
class _Counts:
    depth: int
    in_flight: int
    dlq_count: int
    pending: int


def queue_status_get(*, user: User | AnonymousUser | None = None) -> QueueStatus:
    """The status as `user` may see it; `user=None` (operators) or a staff user sees everything.

    Raises ServiceUnavailable when SQS cannot be reached, for every caller: the API's 503.
    """
    try:
        attrs = sqs.attributes_recent(
            max_age=SQS_ATTRIBUTES_MAX_AGE_SECONDS, timeout=settings.SQS_REQUEST_TIMEOUT * 4
        )
    except sqs.QueueUnavailable as exc:
        # Logged by the caller: the API under its `OnlyFans queue status` event, a command as its
        # one-line error.
        raise ServiceUnavailable(
            "The message queue cannot be reached.", code="queue_unavailable"
        ) from exc
    owner = None if user is None or user.is_staff else user
    if owner is None:
        counts = _Counts(
            depth=attrs.depth + attrs.delayed,
            in_flight=attrs.in_flight,
            dlq_count=attrs.dlq_count,
            pending=backlog.by_status().get(MessageStatus.PENDING, 0),
        )
    else:
        counts = _counts_in_database(owner=owner)
    accounts = list(
        selectors.accounts_of(owner) if owner is not None else OnlyFansAccount.objects.all()
    )
    drain = _drain_seconds(owner=owner)
    limits = sorted({a.effective_rate_limit for a in accounts}) or [
        settings.ONLYFANS_RATE_LIMIT_PER_MINUTE
    ]
    rate_limit = " / ".join(f"{limit} messages/minute" for limit in limits)

    problems = []
    if counts.dlq_count:
        problems.append(f"{counts.dlq_count} message(s) in the dead-letter queue")
    if not limiter.redis_ok():
        problems.append("Redis is unreachable, so delivery is paused")
    if counts.pending:
        problems.append(f"{counts.pending} message(s) waiting to be published to SQS")
    return QueueStatus(
        depth=counts.depth,
        in_flight=counts.in_flight,
        dlq_count=counts.dlq_count,
        total=counts.depth + counts.in_flight,
        estimated_time_seconds=int(drain + 0.999),
        rate_limit=rate_limit,
        last_processed_at=selectors.last_processed_at(user=owner),
        health_status="degraded" if problems else "healthy",
        health_message="; ".join(problems) if problems else "All systems operational",
        timestamp=timezone.now(),
    )


def _counts_in_database(*, owner: User | AnonymousUser) -> _Counts:
    """The owner's messages waiting, being delivered and dead-lettered, from the maintained
    counts (onlyfans/backlog.py): as fast at 100,000 waiting messages as at 1,000."""
    by_status = backlog.by_status(selectors.accounts_of(owner).values_list("pk", flat=True))
    return _Counts(
        depth=sum(by_status.get(s, 0) for s in MessageStatus.ready()),
        in_flight=by_status.get(MessageStatus.SENDING, 0),
        dlq_count=by_status.get(MessageStatus.DEAD_LETTERED, 0),
        pending=by_status.get(MessageStatus.PENDING, 0),
    )


def _drain_seconds(*, owner: User | AnonymousUser | None) -> float:
    """The time to drain the slowest account's backlog, by the pacing module's ETA model: the
    accounts drain in parallel, each at its own effective limit, interactive before bulk."""
    by_lane = selectors.waiting_counts_by_onlyfans_account(user=owner)
    limits = pacing.effective_limits(by_lane)
    return max(
        (
            pacing.drain_seconds(
                onlyfans_id,
                limit=limits[onlyfans_id],
                interactive=lanes.get(Lane.INTERACTIVE, 0),
                bulk=lanes.get(Lane.BULK, 0),
            )
            for onlyfans_id, lanes in by_lane.items()
        ),
        default=0.0,
    )

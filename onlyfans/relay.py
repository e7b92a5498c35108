"""The relay (outbox): Celery beat runs it every few seconds, and `manage.py publish_pending`.

- Accepted messages still `pending` (SQS was down when they were accepted): their accounts get
  a wake-up, with retries after 1 s, 2 s and 4 s, and the rows become `queued`.
- Accounts whose wake-up is overdue by more than `ONLYFANS_WAKE_GRACE_SECONDS` (lost with SQS's
  contents: a purged queue, the local SQS restarted) get a new one.

One relay is active at a time (a Redis lock, `RELAY_LOCK_KEY`): overlapping runs (beat on two
hosts, a run slower than its period) would each arm a new wake-up for the same accounts. Their
copies would be harmless — a copy whose token is no longer the account's is dropped by the
consumer (`wakeups.wake_settle`) — but every one is an SQS send and a receive for nothing.
Redis unreachable: the run goes ahead unlocked (the tokens still drop the spares).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from django_redis import get_redis_connection
from redis.exceptions import RedisError

from onlyfans import accepting, backlog, sqs, wakeups
from onlyfans.models import MessageStatus, OutboundMessage

logger = logging.getLogger(__name__)

# Publishing retries: after a failure, wait 1 s, 2 s, then 4 s before trying again.
PUBLISH_RETRY_DELAYS: tuple[float, ...] = (1, 2, 4)


@dataclass
class PublishReport:
    published: int = 0  # pending messages now queued
    failed: int = 0
    rearmed: int = 0  # accounts whose lost wake-up was replaced
    errors: list[str] = field(default_factory=list)
    # SQS could not be reached even after the retries: everything left stays pending.
    unreachable: bool = False
    # Another relay run held the lock: this one did nothing.
    skipped: bool = False


RELAY_LOCK_KEY = "onlyfans:relay:lock"
# Longer than any run (the retries wait 7 s, each SQS call a few seconds at most); a relay killed
# mid-run holds the lock no longer than this.
RELAY_LOCK_SECONDS = 60
_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


@contextlib.contextmanager
def relay_lock() -> Iterator[bool]:
    """True when this run is the one active relay (or Redis cannot say); False when another
    relay holds the lock."""
    token = uuid.uuid4().hex
    try:
        client = get_redis_connection("default")
        held = bool(client.set(RELAY_LOCK_KEY, token, nx=True, ex=RELAY_LOCK_SECONDS))
    except (RedisError, OSError) as exc:
        logger.warning(
            f"{accepting.LOG_PREFIX}: relay lock unavailable, running unlocked",
            extra={"error": str(exc)},
        )
        yield True
        return
    if not held:
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(RedisError, OSError):
            client.eval(_RELEASE, 1, RELAY_LOCK_KEY, token)


def messages_to_publish(*, limit: int) -> list[OutboundMessage]:
    """Pending rows, highest priority first (index outbound_relay_idx)."""
    return list(
        OutboundMessage.objects.filter(status=MessageStatus.PENDING)
        .select_related("account")
        .order_by("-priority", "queued_at")[:limit]
    )


def messages_publish_pending(
    *,
    limit: int = 1000,
    retry_delays: Sequence[float] = PUBLISH_RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int, int], None] | None = None,
) -> PublishReport:
    """Arm the accounts of pending messages and replace lost wake-ups, retrying a failing SQS
    with that backoff (`PUBLISH_RETRY_DELAYS`); nothing when another relay run is under way."""
    with relay_lock() as active:
        if not active:
            logger.info(f"{accepting.LOG_PREFIX}: another relay run is under way; skipped")
            return PublishReport(skipped=True)
        return _publish_pending(
            limit=limit, retry_delays=retry_delays, sleep=sleep, progress=progress
        )


def _publish_pending(
    *,
    limit: int,
    retry_delays: Sequence[float],
    sleep: Callable[[float], None],
    progress: Callable[[int, int], None] | None,
) -> PublishReport:
    report = PublishReport()
    rows = messages_to_publish(limit=limit)
    by_account: dict[str, list[OutboundMessage]] = {}
    for row in rows:
        by_account.setdefault(row.account.onlyfans_id, []).append(row)
    to_send: list[tuple[str, uuid.UUID, float]] = []
    armed: list[OutboundMessage] = []
    for onlyfans_id in by_account:
        # Pending: the wake-up armed when they were accepted never reached SQS.
        to_send.append((onlyfans_id, wakeups.wake_rearm(onlyfans_id), 0.0))
    overdue = wakeups.wakeups_overdue()
    to_send.extend((onlyfans_id, token, 0.0) for onlyfans_id, token in overdue)
    results = _send_with_retries(to_send, retry_delays=retry_delays, sleep=sleep)
    if results is None:
        report.unreachable = True
        report.failed = len(rows) - len(armed)
        report.errors.append("SQS is unreachable; every remaining message stays pending.")
    else:
        for onlyfans_id, token, _ in to_send:
            group = by_account.get(onlyfans_id, [])
            if results.get(token) is None:
                armed.extend(group)
            else:
                report.failed += len(group)
                report.errors.extend(f"{m.id}: {results[token]}" for m in group)
        report.rearmed = sum(1 for _, token in overdue if results.get(token) is None)
    accepting.mark_queued(armed)
    backlog.fold()  # the status's counts: PostgreSQL's deltas, folded under the relay's lock
    report.published = len(armed)
    if progress:
        progress(len(rows), len(rows))
    if report.published:
        accepting.sqs_circuit.reset()
    if rows or overdue:
        logger.info(
            f"{accepting.LOG_PREFIX}: relay armed pending messages",
            extra={
                "published": report.published,
                "failed": report.failed,
                "rearmed": report.rearmed,
            },
        )
    return report


def _send_with_retries(
    wakeups: list[tuple[str, uuid.UUID, float]],
    *,
    retry_delays: Sequence[float],
    sleep: Callable[[float], None],
) -> dict[uuid.UUID, str | None] | None:
    if not wakeups:
        return {}
    for attempt in range(len(retry_delays) + 1):
        try:
            return sqs.send_wakeups(wakeups)
        except sqs.QueueUnavailable as exc:
            logger.warning(
                f"{accepting.LOG_PREFIX}: publish attempt failed",
                extra={"attempt": attempt + 1, "error": str(exc)},
            )
            if attempt < len(retry_delays):
                sleep(retry_delays[attempt])
    return None

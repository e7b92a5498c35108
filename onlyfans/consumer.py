"""The consumer core: one implementation behind the Celery task and `manage.py consume_messages`.

For each SQS message: claim the row, take the account's slot or defer, call the gateway,
record the attempt, then settle the SQS copy. Deferring and retrying put a *fresh* copy on the
queue (with a delay) and delete the received one, so waiting never counts towards SQS's
maxReceiveCount; only a consumer that dies on a message again and again lets SQS's redrive
policy move it to the DLQ.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from onlyfans import bucket, delivery, gateway, metrics, queue
from onlyfans.models import AttemptOutcome, OutboundMessage

logger = logging.getLogger(__name__)

# How long a message waits before trying again when Redis (the bucket) is unreachable.
REDIS_DOWN_RETRY_SECONDS = 5
# How often one message may wait out a short deferral in-process before going back to SQS.
MAX_INLINE_WAITS = 3
# Back-off of the run loop when SQS cannot be reached.
SQS_DOWN_PAUSE_SECONDS = 5


@dataclass
class ConsumeReport:
    received: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    deferred: int = 0
    skipped: int = 0
    released: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def summary(self) -> str:
        return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in self.as_dict().items())


class Consumer:
    def __init__(
        self,
        *,
        stop: threading.Event | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.stop = stop or threading.Event()
        self._sleep = sleep or self.stop.wait
        self.report = ConsumeReport()

    # --- the loop -------------------------------------------------------------------------------
    def run(
        self,
        *,
        once: bool = False,
        max_messages: int | None = None,
        wait_seconds: int = 20,
        seconds: float | None = None,
    ) -> ConsumeReport:
        """Receive and process until stopped, `seconds` elapsed, or `max_messages` received.

        With `once`, one receive call; SQS being unreachable then raises QueueUnavailable.
        """
        deadline = time.monotonic() + seconds if seconds is not None else None
        while not self.stop.is_set():
            remaining = None if max_messages is None else max_messages - self.report.received
            if remaining is not None and remaining <= 0:
                break
            wait = wait_seconds
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = min(wait, int(left))
            try:
                batch = queue.receive(
                    max_messages=min(remaining or queue.SQS_MAX_BATCH, queue.SQS_MAX_BATCH),
                    wait_seconds=wait,
                )
            except queue.QueueUnavailable as exc:
                if once:
                    raise
                logger.warning("OnlyFans consumer: SQS unreachable, pausing", extra={"error": str(exc)})
                self.stop.wait(SQS_DOWN_PAUSE_SECONDS)
                continue
            self.process(batch)
            if once:
                break
        return self.report

    def process(self, batch: list[queue.QueuedMessage]) -> None:
        extended_at = time.monotonic()
        for index, received in enumerate(batch):
            if self.stop.is_set():
                self._release_unstarted(batch[index:])
                return
            if time.monotonic() - extended_at > settings.SQS_VISIBILITY_TIMEOUT / 2:
                # Slow gateway calls can outlast the visibility timeout of the batch's tail:
                # other consumers would receive it again (towards maxReceiveCount) meanwhile.
                self._keep_invisible(batch[index:])
                extended_at = time.monotonic()
            self.report.received += 1
            try:
                self.handle(received)
            except queue.QueueUnavailable as exc:
                # The row is consistent; the SQS copy reappears after its visibility timeout.
                logger.warning(
                    "OnlyFans consumer: SQS call failed after processing",
                    extra={"messageId": received.message_id, "error": str(exc)},
                )
            except Exception:
                # One bad message must not stop the others; its copy reappears and SQS's
                # redrive policy dead-letters it if it keeps failing.
                logger.exception(
                    "OnlyFans consumer: unexpected error", extra={"messageId": received.message_id}
                )

    def _keep_invisible(self, rest: list[queue.QueuedMessage]) -> None:
        for received in rest:
            with contextlib.suppress(queue.QueueUnavailable):  # then it may be received again
                queue.set_visibility(received.receipt_handle, settings.SQS_VISIBILITY_TIMEOUT)

    def _release_unstarted(self, rest: list[queue.QueuedMessage]) -> None:
        for received in rest:
            try:
                queue.set_visibility(received.receipt_handle, 0)
                self.report.released += 1
            except queue.QueueUnavailable:
                pass  # it reappears after its visibility timeout anyway
        logger.info("OnlyFans consumer: stopping, released unstarted messages", extra={"count": len(rest)})

    # --- one message ----------------------------------------------------------------------------
    def handle(self, received: queue.QueuedMessage) -> str:
        claim = delivery.claim(received.message_id)
        if not claim.ok:
            return self._skip(received, claim)
        message = claim.message
        account = message.account
        pace = delivery.account_pace(account.onlyfans_id)
        limit = pace.limit
        try:
            decision = self._take_slot(account.onlyfans_id, pace)
        except bucket.BucketUnavailable as exc:
            logger.warning(
                "OnlyFans consumer: Redis unreachable, delivering nothing",
                extra={"messageId": str(message.pk), "error": str(exc)},
            )
            return self._defer(received, claim, REDIS_DOWN_RETRY_SECONDS, reason="redis_unavailable")
        if not decision.granted:
            rank = delivery.rank_in_backlog(message)
            delay = decision.wait_seconds + rank * bucket.slot_interval_seconds(limit)
            return self._defer(received, claim, delay, reason="rate_limited")

        result = gateway.send_message(
            account_id=account.onlyfans_id,
            recipient_id=message.recipient_id,
            message_id=str(message.pk),
            text=message.content,
            media_urls=message.media_urls,
        )
        if result.rate_limited:
            # The gateway knows better than our bucket: no slot for this account until then.
            pause = result.retry_after if result.retry_after is not None else bucket.slot_interval_seconds(limit)
            with contextlib.suppress(bucket.BucketUnavailable):
                bucket.push_back(account.onlyfans_id, limit=limit, seconds=pause)
        recorded = delivery.record_attempt(claim, result)
        self._settle(received, message, recorded)
        return recorded.outcome

    def _take_slot(self, onlyfans_id: str, pace: delivery.AccountPace) -> bucket.SlotDecision:
        decision = self._take(onlyfans_id, pace)
        for _ in range(MAX_INLINE_WAITS):
            if decision.granted or decision.wait_seconds > settings.ONLYFANS_INLINE_WAIT_SECONDS:
                break
            self._sleep(decision.wait_seconds)
            decision = self._take(onlyfans_id, pace)
        return decision

    @staticmethod
    def _take(onlyfans_id: str, pace: delivery.AccountPace) -> bucket.SlotDecision:
        decision = bucket.take(onlyfans_id, limit=pace.limit)
        if not (decision.granted and decision.fresh and pace.last_call_at):
            return decision
        # Redis had nothing for this account: idle for a while, or it lost its data (restart,
        # failover). The database remembers the last call; keep the spacing from that one.
        since = (timezone.now() - pace.last_call_at).total_seconds()
        if since >= bucket.slot_interval_seconds(pace.limit):
            return decision
        return bucket.push_back(onlyfans_id, limit=pace.limit, seconds=bucket.slot_interval_seconds(pace.limit))

    def _skip(self, received: queue.QueuedMessage, claim: delivery.Claim) -> str:
        self.report.skipped += 1
        if claim.skip_reason == "held" and claim.held_until is not None:
            # Another consumer is delivering it; look again once its lease would have run out.
            seconds = (claim.held_until - timezone.now()).total_seconds() + 1
            queue.set_visibility(received.receipt_handle, max(int(seconds + 0.999), 1))
        else:
            # Sent, failed, cancelled, dead-lettered, or unknown: this copy is a duplicate.
            queue.delete(received.receipt_handle)
        logger.info(
            "OnlyFans consumer: skipped a copy",
            extra={"messageId": received.message_id, "reason": claim.skip_reason},
        )
        return "skipped"

    def _defer(self, received: queue.QueuedMessage, claim: delivery.Claim, seconds: float, *, reason: str) -> str:
        message = claim.message
        delivery.release(claim, not_before=timezone.now() + timedelta(seconds=seconds))
        queue.requeue(str(message.pk), message.account_id, delay_seconds=seconds)
        queue.delete(received.receipt_handle)
        self.report.deferred += 1
        metrics.emit(metrics.DEFERRED, AccountId=str(message.account_id))
        logger.info(
            "OnlyFans consumer: deferred until the account's slot",
            extra={"messageId": str(message.pk), "accountId": message.account_id, "seconds": round(seconds, 3), "reason": reason},
        )
        return "deferred"

    def _settle(self, received: queue.QueuedMessage, message: OutboundMessage, recorded: delivery.Recorded) -> None:
        if recorded.superseded:
            # The consumer that holds the row settles it through its own copy; ours is spare.
            if recorded.outcome == AttemptOutcome.SENT:
                self.report.sent += 1
            else:
                self.report.skipped += 1
            queue.delete(received.receipt_handle)
            return
        if recorded.outcome == AttemptOutcome.SENT:
            self.report.sent += 1
        elif recorded.outcome == AttemptOutcome.FAILED:
            self.report.failed += 1
        elif recorded.outcome == AttemptOutcome.DEAD_LETTERED:
            self.report.dead_lettered += 1
            queue.send_to_dlq(str(message.pk), message.account_id, reason=recorded.error or "attempts exhausted")
        else:
            self.report.retried += 1
            queue.requeue(str(message.pk), message.account_id, delay_seconds=recorded.retry_in)
        queue.delete(received.receipt_handle)


def consume(**kwargs) -> ConsumeReport:
    return Consumer().run(**kwargs)

"""One account, one step: the delivery core the consumer's threads run (`Dispatcher.dispatch`).

Claim the account's best ready message (`scheduler.claim_next`), take the limiter's slot for its
lane or give the message back, call the gateway within the grant's send budget and the claim's
deadline, then record the attempt and settle the account's wake-up in one transaction
(`wakeups.delivery_settle`; `wakeups.wake_settle` when nothing was sent). Returns when the
wake-up in hand should look at the account again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from onlyfans import delivery, gateway, limiter, metrics, pacing, scheduler, sqs, wakeups
from onlyfans.models import AttemptOutcome, Lane, OutboundMessage, WaitReason

logger = logging.getLogger("onlyfans.consumer")

# An account busy with another consumer's call is looked at again this soon.
BUSY_RECHECK_SECONDS = 1.0


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
        return ", ".join(
            f"{key.replace('_', ' ')} {value}" for key, value in self.as_dict().items()
        )


def _db_age(at: datetime | None) -> float | None:
    return None if at is None else (timezone.now() - at).total_seconds()


def call_deadline(claimed_until: datetime | None) -> float:
    """When the gateway call must be over (time.monotonic()): ONLYFANS_CALL_DEADLINE_SECONDS, and
    a quarter of the lease before the claim's lease runs out, so that the attempt is recorded
    while the claim is still ours and no second consumer calls with the key while it is in
    flight."""
    now = time.monotonic()
    deadline = now + settings.ONLYFANS_CALL_DEADLINE_SECONDS
    if claimed_until is not None:
        margin = settings.ONLYFANS_CLAIM_LEASE_SECONDS / 4
        deadline = min(deadline, now + (claimed_until - timezone.now()).total_seconds() - margin)
    return deadline


def send_budget_seconds() -> float:
    """How long a slot's grant stays good: half the limiter's guard (the stretch of its window
    that absorbs the delay between a grant and the call's arrival at the gateway)."""
    return settings.ONLYFANS_RATE_WINDOW_SECONDS * settings.ONLYFANS_RATE_GUARD / 2


def lane_slots(decision: limiter.Decision) -> dict[str, datetime]:
    return {Lane.INTERACTIVE: decision.next_interactive_at, Lane.BULK: decision.next_bulk_at}


class Dispatcher:
    """Dispatches accounts and counts what it did (`report`); thread-safe."""

    def __init__(self) -> None:
        self.report = ConsumeReport()
        self._lock = threading.Lock()

    def dependency_down(self) -> None:
        """The database or Redis is unreachable (the consumer pauses receiving)."""

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.report, name, getattr(self.report, name) + n)

    # --- one account, one step ------------------------------------------------------------------
    def dispatch(self, onlyfans_id: str, token: uuid.UUID | None = None) -> datetime | None:
        """Deliver the account's best ready message if its slot is free. Returns when the wake-up
        in hand should look at the account again, or None when it is spare."""
        pick = scheduler.claim_next(onlyfans_id)
        pace = pick.pace or pacing.account_pace(onlyfans_id)
        slots: dict[str, datetime] | None = None
        try:
            if pick.claim is not None:
                return self._deliver(pick.claim, pace, token)
            slots = lane_slots(limiter.peek(onlyfans_id, limit=pace.limit))
            if pick.busy_until is not None:
                # Another consumer is sending for the account (or died holding a claim):
                # look again shortly, never in a tight loop.
                floor = timezone.now() + timedelta(seconds=BUSY_RECHECK_SECONDS)
                slots = {lane: max(at, floor) for lane, at in slots.items()}
        except limiter.LimiterUnavailable as exc:
            logger.warning(
                "OnlyFans consumer: Redis unreachable, delivering nothing",
                extra={"onlyfansId": onlyfans_id, "error": str(exc)},
            )
            self.dependency_down()
            if pick.claim is not None:
                scheduler.release(pick.claim, reason=WaitReason.REDIS_UNAVAILABLE)
                self._count("deferred")
        return wakeups.wake_settle(onlyfans_id, token=token, slots=slots)

    def _deliver(
        self, claim: delivery.Claim, pace: pacing.AccountPace, token: uuid.UUID | None
    ) -> datetime | None:
        """One delivery: the limiter's decision, the gateway call, then the attempt and the
        wake-up settled together (`wakeups.delivery_settle`, one transaction)."""
        message = claim.message
        onlyfans_id = message.account.onlyfans_id
        asked = time.monotonic()
        decision = limiter.take(
            onlyfans_id,
            limit=pace.limit,
            lane=message.lane,
            db_last_call_age=_db_age(pace.last_call_at),
        )
        if not decision.granted:
            scheduler.release(claim, reason=WaitReason.RATE_LIMIT)
            self._count("deferred")
            metrics.emit(metrics.DEFERRED, AccountId=str(message.account_id))
            return wakeups.wake_settle(onlyfans_id, token=token, slots=lane_slots(decision))
        # The send budget: the limiter's guard covers this much delay between the grant and the
        # call reaching the gateway, and no more. A grant older than that (a stall: a slow Redis
        # answer, a paused process) is not used — the slot stays taken, the message waits for the
        # next one.
        send_by = asked + send_budget_seconds()
        result = gateway.GatewayResult(False, None, 0, not_made=True)
        if time.monotonic() < send_by:
            result = gateway.send_message(
                onlyfans_id=onlyfans_id,
                recipient_id=message.recipient_id,
                message_id=str(message.pk),
                text=message.content,
                media_urls=message.media_urls,
                deadline=call_deadline(message.claimed_until),
                send_by=send_by,
            )
        if result.not_made:
            logger.warning(
                "OnlyFans consumer: the slot's grant is too old to use; waiting for the next one",
                extra={"onlyfansId": onlyfans_id, "messageId": str(message.pk)},
            )
            scheduler.release(claim, reason=WaitReason.RATE_LIMIT)
            self._count("deferred")
            return wakeups.wake_settle(
                onlyfans_id,
                token=token,
                slots=lane_slots(limiter.peek(onlyfans_id, limit=pace.limit)),
            )
        # The next call waits the minimum gap from this call's *answer*, not only from its grant:
        # a consumer held up between the grant and the request (a loaded host) can never put
        # two calls closer than the gap at the gateway. After a 429 the gateway's Retry-After.
        pause = limiter.params_for(pace.limit).gap
        if result.rate_limited:
            retry_after = (
                result.retry_after
                if result.retry_after is not None
                else limiter.slot_interval_seconds(pace.limit)
            )
            pause = max(pause, retry_after)
        # Before the attempt is recorded: that releases the account to the next dispatcher.
        # Redis gone mid-call: the call happened, so record it; nothing more is sent meanwhile.
        with contextlib.suppress(limiter.LimiterUnavailable):
            decision = limiter.push_back(onlyfans_id, limit=pace.limit, seconds=pause)
        recorded, next_at = wakeups.delivery_settle(
            claim, result, token=token, slots=lane_slots(decision)
        )
        self._settle_outcome(message, recorded)
        return next_at

    def _settle_outcome(self, message: OutboundMessage, recorded: delivery.Recorded) -> None:
        outcome = recorded.outcome
        if recorded.superseded:
            self._count("sent" if outcome == AttemptOutcome.SENT else "skipped")
        elif outcome == AttemptOutcome.SENT:
            self._count("sent")
        elif outcome == AttemptOutcome.FAILED:
            self._count("failed")
        elif outcome == AttemptOutcome.DEAD_LETTERED:
            self._count("dead_lettered")
            with contextlib.suppress(sqs.QueueUnavailable):  # the row says dead_lettered anyway
                sqs.send_to_dlq(
                    str(message.pk),
                    message.account_id,
                    reason=recorded.error or "attempts exhausted",
                )
        elif outcome in (AttemptOutcome.RATE_LIMITED, AttemptOutcome.DEFERRED):
            self._count("deferred")
        else:
            self._count("retried")

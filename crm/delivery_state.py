"""The one place the pages read and act on an outbound message's delivery.

The inbox shows each outbound message's state (status, ETA, error, attempts) and offers Cancel
and Retry. Those reads and actions go through the three functions below and nowhere else, so
that the pipeline's pacing module (the live ETA and why a message waits) and its cancel API can
take over by changing this file alone.

The ETA and why a message waits come from the pipeline's pacing model
(`onlyfans.selectors.message_schedules`: live, computed when read, a constant number of queries
for the whole page); cancel is `onlyfans.services.messages_cancel` and retry is
`onlyfans.services.messages_redrive` followed by the pipeline's publish.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from onlyfans import selectors
from onlyfans import services as pipeline
from onlyfans.models import DeliveryAttempt, MessageStatus, OutboundMessage, WaitReason

# `waitingFor` in words, for the page.
WAITING_WORDS = {
    WaitReason.RATE_LIMIT: "waiting for the account's next slot",
    WaitReason.RETRY_BACKOFF: "retrying after a failed attempt",
    WaitReason.GATEWAY_RATE_LIMITED: "OnlyFans asked to wait (rate limited)",
    WaitReason.REDIS_UNAVAILABLE: "delivery paused (Redis unreachable)",
    WaitReason.SCHEDULED: "scheduled",
    WaitReason.HELD: "held while its campaign is paused",
}
# The poll's fingerprint sees an ETA to this many seconds: a live ETA that only drifts does not
# make every poll a change.
ETA_GRAIN_SECONDS = 5

# States with a marker in the conversation list: still moving (the page polls quickly while one
# is on screen), or failed.
MARKED = (*MessageStatus.waiting(), *MessageStatus.failures())


@dataclass(frozen=True)
class DeliveryState:
    status: str
    eta: datetime | None  # when a waiting message should go out
    error: str  # why it failed (empty unless failed or dead-lettered)
    attempts: int  # real gateway calls, retries included
    delivered_at: datetime | None
    waiting_for: str = ""  # why it waits, in words, when the pipeline says

    @property
    def in_flight(self) -> bool:
        return self.status in MessageStatus.waiting()

    @property
    def can_cancel(self) -> bool:
        return self.status in MessageStatus.ready()  # what the pipeline's cancel takes

    @property
    def can_retry(self) -> bool:
        return self.status in MessageStatus.failures()  # what the pipeline's redrive takes

    def eta_seconds(self, now: datetime | None = None) -> int | None:
        if self.eta is None or not self.in_flight:
            return None
        return max(0, round((self.eta - (now or timezone.now())).total_seconds()))

    def fingerprint(self) -> tuple:
        eta = int(self.eta.timestamp() // ETA_GRAIN_SECONDS) if self.eta else None
        return (self.status, eta, self.attempts, self.error, self.waiting_for)


def delivery_states(outbound: Iterable[OutboundMessage | None]) -> dict[uuid.UUID, DeliveryState]:
    """The delivery state of each outbound message, by its id, in one query for all of them."""
    rows = [m for m in outbound if m is not None]
    if not rows:
        return {}
    attempts = dict(
        DeliveryAttempt.objects.filter(message_id__in=[m.pk for m in rows])
        .order_by()
        .values("message_id")
        .annotate(n=Count("pk"))
        .values_list("message_id", "n")
    )
    schedules = selectors.message_schedules(rows)
    states = {}
    for message in rows:
        schedule = schedules.get(message.pk)
        waiting = message.status in MessageStatus.waiting()
        failed = message.status in MessageStatus.failures()
        states[message.pk] = DeliveryState(
            status=message.status,
            eta=schedule.estimated_send_time if schedule and waiting else None,
            error=(message.last_error or "Delivery failed.") if failed else "",
            attempts=attempts.get(message.pk, 0),
            delivered_at=message.sent_at if message.status == MessageStatus.SENT else None,
            waiting_for=WAITING_WORDS.get(schedule.waiting_for, "")
            if schedule and schedule.waiting_for
            else "",
        )
    return states


def message_cancel(outbound: OutboundMessage) -> bool:
    """Cancel a pending or queued message. False when it has moved on (sending, sent…)."""
    return pipeline.messages_cancel(OutboundMessage.objects.filter(pk=outbound.pk)) == 1


def message_retry(outbound: OutboundMessage) -> bool:
    """A failed or dead-lettered message gets a fresh delivery: back to `pending`, published at
    once (the relay publishes it if SQS is down). Its earlier attempts stay on record, so the
    new one is a visible extra attempt. False when the message is not failed."""
    if pipeline.messages_redrive(OutboundMessage.objects.filter(pk=outbound.pk)) != 1:
        return False
    pipeline.publish_after_commit([OutboundMessage.objects.get(pk=outbound.pk)])
    return True

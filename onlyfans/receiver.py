"""The consumer's receiver thread: it long-polls SQS for as many wake-ups as the consumer's
dispatching threads can take and queues them, so that the consumer's control thread is never
blocked in a long poll while a held account's timer comes due."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING

from onlyfans import sqs

if TYPE_CHECKING:
    from onlyfans.consumer import Consumer

logger = logging.getLogger(__name__)

# Back-off of the receiver when SQS cannot be reached.
SQS_DOWN_PAUSE_SECONDS = 5


class Receiver(threading.Thread):
    """Long-polls SQS for as many wake-ups as the dispatching threads can take, and queues them."""

    def __init__(
        self,
        consumer: Consumer,
        events: queue.Queue,
        *,
        once: bool,
        max_messages: int | None,
        wait_seconds: int,
        deadline: float | None,
    ) -> None:
        super().__init__(name="consumer-receiver", daemon=True)
        self.consumer, self.events = consumer, events
        self.once, self.max_messages, self.wait_seconds = once, max_messages, wait_seconds
        self.deadline = deadline
        self.wanted = consumer.concurrency
        self.stopping = threading.Event()
        self.done = threading.Event()
        self.error: Exception | None = None
        self.received = 0

    def run(self) -> None:
        try:
            while not (self.stopping.is_set() or self.consumer.stop.is_set()):
                if self.max_messages is not None and self.received >= self.max_messages:
                    break
                if self.wanted <= 0:
                    self.stopping.wait(0.05)  # every dispatching thread is busy
                    continue
                paused = self.consumer.paused_until - time.monotonic()
                if paused > 0:
                    # The database or Redis is down: a copy received now could only fail.
                    self.stopping.wait(min(paused, 1.0))
                    continue
                want = min(self.wanted, sqs.SQS_MAX_BATCH)
                if self.max_messages is not None:
                    want = min(want, self.max_messages - self.received)
                poll = self.wait_seconds
                if self.deadline is not None:
                    left = self.deadline - time.monotonic()
                    if left < 1:
                        break  # no poll shorter than a second: no tight loop at the end of a run
                    poll = min(poll, int(left))
                try:
                    batch = sqs.receive(max_messages=want, wait_seconds=poll)
                except sqs.QueueUnavailable as exc:
                    if self.once:
                        self.error = exc
                        break
                    logger.warning(
                        "OnlyFans consumer: SQS unreachable, pausing", extra={"error": str(exc)}
                    )
                    self.stopping.wait(SQS_DOWN_PAUSE_SECONDS)
                    continue
                self.received += len(batch)
                self.wanted -= len(batch)
                for item in batch:
                    self.events.put(("received", item))
                if self.once:
                    break
        finally:
            self.done.set()

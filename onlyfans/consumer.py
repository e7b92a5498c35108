"""The consumer core: one implementation behind `manage.py consume_messages` and the Celery task.

It receives per-account wake-ups from SQS and dispatches each account (`onlyfans.dispatcher`:
claim the best ready message, take the limiter's slot, call the gateway, record the attempt and
settle the wake-up), then does what the dispatch says of the wake-up in hand:

- nothing more to do for the account, or another live wake-up covers it: delete the copy;
- the account's next slot is close (`ONLYFANS_HOLD_HORIZON_SECONDS`): keep the copy invisible
  and look again on an in-process timer — a busy account costs no SQS call per delivery;
- later: a fresh copy with a delay (receive count 0, so waiting never walks it towards the
  queue's maxReceiveCount), and the received one is deleted.

With `concurrency` N, N threads dispatch different accounts at once; no thread ever sleeps on
one account's behalf, so one account's backlog never holds another account's message.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections
from django.utils import timezone

from huntaze.core.ids import parse_uuid
from onlyfans import faults, sqs, wakeups
from onlyfans.dispatcher import ConsumeReport, Dispatcher
from onlyfans.models import OutboundMessage
from onlyfans.receiver import Receiver

logger = logging.getLogger(__name__)

# An account whose next slot is at most ONLYFANS_HOLD_HORIZON_SECONDS away stays with the consumer
# on a timer; later, its wake-up is re-queued with a delay.
# A held wake-up stays invisible this long past its timer: if the consumer dies, another one
# takes the account over this soon after its slot.
HOLD_MARGIN_SECONDS = 30.0
# The database or Redis unreachable: the wake-up in hand is looked at again this soon (kept
# invisible meanwhile), and the receiver takes nothing new from SQS until then — a copy received
# again and again walks towards the queue's maxReceiveCount and the DLQ, though nothing is wrong
# with it.
DEPENDENCY_DOWN_PAUSE_SECONDS = 5.0
DATABASE_ERRORS = (OperationalError, InterfaceError)


@dataclass
class Wake:
    """A wake-up in hand: the SQS copy, and until when it stays invisible (monotonic clock)."""

    onlyfans_id: str
    token: uuid.UUID | None
    receipt_handle: str
    invisible_until: float
    next_at: datetime | None = field(default=None)


def _wake_from(received: sqs.QueuedMessage) -> Wake | None:
    onlyfans_id = received.onlyfans_id
    message_pk = parse_uuid(received.message_id) if not onlyfans_id else None
    if message_pk is not None:
        # A first-version copy: wake the message's account.
        onlyfans_id = (
            OutboundMessage.objects.filter(pk=message_pk)
            .values_list("account__onlyfans_id", flat=True)
            .first()
        ) or ""
    if not onlyfans_id:
        return None
    return Wake(
        onlyfans_id,
        received.wake_token,
        received.receipt_handle,
        time.monotonic() + settings.SQS_VISIBILITY_TIMEOUT,
    )


class Consumer(Dispatcher):
    """The loop around the dispatcher: receive wake-ups, dispatch them on N threads, keep the
    ones coming due on timers, re-queue or delete the rest."""

    def __init__(
        self, *, concurrency: int = 1, stop: threading.Event | None = None, rearm: bool = False
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.stop = stop or threading.Event()
        self.rearm = rearm
        super().__init__()
        self._timers: list[tuple[float, int, Wake]] = []
        self._seq = itertools.count()
        # Until when (time.monotonic()) the receiver receives nothing: the database or Redis is
        # down.
        self.paused_until = 0.0

    def pause_receiving(self, seconds: float | None = None) -> None:
        pause = DEPENDENCY_DOWN_PAUSE_SECONDS if seconds is None else seconds
        self.paused_until = max(self.paused_until, time.monotonic() + pause)

    def dependency_down(self) -> None:
        self.pause_receiving()

    # --- the loop ---------------------------------------------------------------------------------
    def run(
        self,
        *,
        once: bool = False,
        max_messages: int | None = None,
        wait_seconds: int = 20,
        seconds: float | None = None,
    ) -> ConsumeReport:
        """Receive wake-ups and dispatch accounts until stopped, `seconds` elapsed, or (with
        `once`, or after `max_messages` wake-ups) nothing is left in hand. Held wake-ups go back
        to SQS with their delays when the run ends. With `once`, SQS being unreachable raises.

        A receiver thread long-polls SQS; this thread runs the timers and hands accounts to the
        dispatching threads, so a long poll never delays a held account's next slot."""
        deadline = time.monotonic() + seconds if seconds is not None else None
        if self.rearm:
            self._rearm_all()
        pool = (
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="consumer")
            if self.concurrency > 1
            else None
        )
        events: queue.Queue = queue.Queue()
        receiver = Receiver(
            self,
            events,
            once=once,
            max_messages=max_messages,
            wait_seconds=wait_seconds,
            deadline=deadline,
        )
        receiver.start()
        running: dict[Future, Wake] = {}
        ready: list[Wake] = []
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                while self._timers and self._timers[0][0] <= now:
                    ready.append(heapq.heappop(self._timers)[2])
                while ready and len(running) < self.concurrency:
                    self._start(ready.pop(0), running, pool, events)
                receiver.wanted = max(self.concurrency - len(running) - len(ready), 0)
                if receiver.done.is_set() and events.empty() and not running and not ready:
                    if receiver.error is not None:
                        raise receiver.error
                    if once or max_messages is not None or not self._timers:
                        break
                timeout = 1.0
                if self._timers:
                    timeout = min(timeout, max(self._timers[0][0] - now, 0))
                if deadline is not None:
                    timeout = min(timeout, max(deadline - now, 0))
                try:
                    kind, item = events.get(timeout=timeout)
                except queue.Empty:
                    continue
                if kind == "received":
                    self._count("received")
                    wake = _wake_from(item)
                    if wake is None:
                        self._drop_copy(item.receipt_handle)
                    else:
                        ready.append(wake)
                else:
                    self._finish(item, running)
        finally:
            receiver.stopping.set()
            for future in list(running):
                future.exception()  # waits for it to finish
                self._finish(future, running)
            if pool is not None:
                pool.shutdown(wait=True)
            receiver.join(timeout=wait_seconds + 5)
            self._give_back(ready, events)
            self._release_held()
        return self.report

    def _give_back(self, ready: list[Wake], events: queue.Queue) -> None:
        """Wake-ups received but never started go back to SQS at once."""
        handles = [wake.receipt_handle for wake in ready]
        while True:
            try:
                kind, item = events.get_nowait()
            except queue.Empty:
                break
            if kind == "received":
                handles.append(item.receipt_handle)
        for handle in handles:
            with contextlib.suppress(sqs.QueueUnavailable):
                sqs.set_visibility(handle, 0)
        self._count("released", len(handles))

    def _start(
        self,
        wake: Wake,
        running: dict[Future, Wake],
        pool: ThreadPoolExecutor | None,
        events: queue.Queue,
    ) -> None:
        if pool is None:
            future: Future = Future()
            try:
                future.set_result(self._step(wake))
            except Exception as exc:  # noqa: BLE001 - logged in _step; the copy stays invisible
                future.set_exception(exc)
            running[future] = wake
            self._finish(future, running)
            return
        future = pool.submit(self._step, wake)
        running[future] = wake
        future.add_done_callback(lambda done: events.put(("done", done)))

    def _finish(self, future: Future, running: dict[Future, Wake]) -> None:
        wake = running.pop(future, None)
        if wake is None:
            return
        error = future.exception()
        if isinstance(error, DATABASE_ERRORS):
            self._hold_while_down(wake)
            return
        if error is not None:
            return  # left invisible: SQS hands it out again after its timeout
        self._after(wake, future.result())

    def _hold_while_down(self, wake: Wake) -> None:
        """The database is down: keep the wake-up in hand (invisible) and look again after a
        pause, receiving nothing meanwhile — never let SQS hand the copy out again and again."""
        self.pause_receiving()
        due = self.paused_until
        if wake.invisible_until < due + 5:
            try:
                sqs.set_visibility(
                    wake.receipt_handle, int(DEPENDENCY_DOWN_PAUSE_SECONDS + HOLD_MARGIN_SECONDS)
                )
                wake.invisible_until = time.monotonic() + int(
                    DEPENDENCY_DOWN_PAUSE_SECONDS + HOLD_MARGIN_SECONDS
                )
            except sqs.QueueUnavailable:
                return  # SQS hands it out again after its timeout
        heapq.heappush(self._timers, (due, next(self._seq), wake))

    def _step(self, wake: Wake) -> datetime | None:
        try:
            return self.dispatch(wake.onlyfans_id, wake.token)
        except DATABASE_ERRORS as exc:
            logger.warning(
                "OnlyFans consumer: the database is unreachable, pausing",
                extra={"onlyfansId": wake.onlyfans_id, "error": str(exc)},
            )
            raise
        except Exception:
            # One account's failure must not stop the others; its copy reappears after the
            # visibility timeout (and SQS's redrive policy moves it if it keeps failing).
            logger.exception(
                "OnlyFans consumer: unexpected error", extra={"onlyfansId": wake.onlyfans_id}
            )
            raise
        finally:
            # A connection the database dropped (a restart, an outage) is closed here, so that the
            # next step connects again instead of failing on the dead one forever.
            close_old_connections()

    def _after(self, wake: Wake, next_at: datetime | None) -> None:
        try:
            if next_at is None:
                sqs.delete(wake.receipt_handle)
                return
            delay = max((next_at - timezone.now()).total_seconds(), 0.0)
            if delay > settings.ONLYFANS_HOLD_HORIZON_SECONDS or self.stop.is_set():
                self._resend(wake, delay)
                return
            due = time.monotonic() + delay
            if wake.invisible_until < due + 5:
                sqs.set_visibility(wake.receipt_handle, int(delay + HOLD_MARGIN_SECONDS))
                wake.invisible_until = time.monotonic() + int(delay + HOLD_MARGIN_SECONDS)
            wake.next_at = next_at
            heapq.heappush(self._timers, (due, next(self._seq), wake))
        except sqs.QueueUnavailable as exc:
            # The database still says when the account needs a consumer: the relay re-arms it.
            logger.warning(
                "OnlyFans consumer: SQS call failed",
                extra={"onlyfansId": wake.onlyfans_id, "error": str(exc)},
            )

    def _resend(self, wake: Wake, delay: float) -> None:
        if delay > wakeups.PARK_BEYOND_SECONDS:
            # Later than SQS can delay: the database keeps the wake-up, the relay sends it.
            wakeups.wake_park_token(wake.onlyfans_id, wake.token)
            sqs.delete(wake.receipt_handle)
            return
        token = wake.token or uuid.uuid4()
        sqs.send_wakeups([(wake.onlyfans_id, token, delay)])
        faults.point("after_requeue")  # the chaos harness' kill -9 between re-queue and delete
        sqs.delete(wake.receipt_handle)

    def _release_held(self) -> None:
        """The run ends: every held wake-up goes back to SQS, due at its timer."""
        held = [wake for _, _, wake in self._timers]
        self._timers.clear()
        if not held:
            return
        now = timezone.now()
        try:
            sqs.send_wakeups(
                [
                    (
                        w.onlyfans_id,
                        w.token or uuid.uuid4(),
                        max(((w.next_at or now) - now).total_seconds(), 0),
                    )
                    for w in held
                ]
            )
            faults.point("after_requeue")
            sqs.delete_batch([w.receipt_handle for w in held])
            self._count("released", len(held))
        except sqs.QueueUnavailable as exc:
            logger.warning(
                "OnlyFans consumer: could not release held wake-ups", extra={"error": str(exc)}
            )

    def _drop_copy(self, receipt_handle: str) -> None:
        self._count("skipped")
        with contextlib.suppress(sqs.QueueUnavailable):
            sqs.delete(receipt_handle)

    def _rearm_all(self) -> None:
        """Start-up: every account that needs a consumer gets its wake-up back (SQS may have lost
        its contents while nothing ran)."""
        entries = wakeups.wakeups_rearm_all()
        try:
            sqs.send_wakeups(entries)
        except sqs.QueueUnavailable as exc:
            logger.warning(
                "OnlyFans consumer: could not re-arm wake-ups", extra={"error": str(exc)}
            )
        if entries:
            logger.info("OnlyFans consumer: wake-ups re-armed", extra={"count": len(entries)})


def consume(**kwargs: Any) -> ConsumeReport:
    return Consumer().run(**kwargs)

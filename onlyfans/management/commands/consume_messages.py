from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from onlyfans import sqs
from onlyfans.consumer import Consumer


class Command(BaseCommand):
    help = (
        "Consume the OnlyFans outbound queue: per-account wake-ups; each thread delivers a "
        "different account's best message within its limits. Runs until SIGTERM/SIGINT "
        "(in-flight work finishes, held wake-ups go back to SQS), or once. Any number of these "
        "processes on any number of hosts share the work."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One receive call, then exit.")
        parser.add_argument(
            "--max-messages", type=int, default=None, help="Exit after receiving N wake-ups."
        )
        parser.add_argument(
            "--wait-seconds",
            type=int,
            default=20,
            help="SQS long-poll wait per receive (0–20, default 20).",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help=(
                "Accounts delivered at once by this process "
                f"(default CONSUMER_CONCURRENCY, {settings.CONSUMER_CONCURRENCY})."
            ),
        )
        parser.add_argument(
            "--no-rearm",
            action="store_true",
            help="Skip the start-up re-arm of every waiting account's wake-up.",
        )

    def handle(
        self,
        *args: Any,
        once: bool,
        max_messages: int | None,
        wait_seconds: int,
        concurrency: int,
        no_rearm: bool,
        **options: Any,
    ) -> None:
        if max_messages is not None and max_messages < 1:
            raise CommandError("--max-messages must be at least 1.")
        if not 0 <= wait_seconds <= 20:
            raise CommandError("--wait-seconds must be between 0 and 20.")
        concurrency = concurrency or settings.CONSUMER_CONCURRENCY
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1.")
        consumer = Consumer(concurrency=concurrency, rearm=not no_rearm)

        def stop(signum: int, frame: FrameType | None) -> None:
            self.stderr.write(f"Received signal {signum}: finishing in-flight work…")
            consumer.stop.set()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        if not once:
            self.stdout.write(f"Consuming: up to {concurrency} accounts at a time; SIGTERM stops.")
            self.stdout.flush()
        try:
            report = consumer.run(once=once, max_messages=max_messages, wait_seconds=wait_seconds)
        except sqs.QueueUnavailable as exc:
            raise CommandError(f"The queue cannot be reached: {exc}") from exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(f"Consumed: {report.summary()}")

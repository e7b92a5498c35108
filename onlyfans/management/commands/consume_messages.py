from __future__ import annotations

import signal

from django.core.management.base import BaseCommand, CommandError

from onlyfans import queue
from onlyfans.consumer import Consumer


class Command(BaseCommand):
    help = (
        "Consume the OnlyFans outbound queue: claim, rate-limit and deliver messages. Runs until "
        "SIGTERM/SIGINT (in-flight work finishes, unstarted messages are released), or once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One receive call, then exit.")
        parser.add_argument("--max-messages", type=int, default=None, help="Exit after receiving N messages.")
        parser.add_argument(
            "--wait-seconds", type=int, default=20, help="SQS long-poll wait per receive (0–20, default 20)."
        )

    def handle(self, *args, once, max_messages, wait_seconds, **options):
        if max_messages is not None and max_messages < 1:
            raise CommandError("--max-messages must be at least 1.")
        if not 0 <= wait_seconds <= 20:
            raise CommandError("--wait-seconds must be between 0 and 20.")
        consumer = Consumer()

        def stop(signum, frame):
            self.stderr.write(f"Received signal {signum}: finishing in-flight work…")
            consumer.stop.set()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            report = consumer.run(once=once, max_messages=max_messages, wait_seconds=wait_seconds)
        except queue.QueueUnavailable as exc:
            raise CommandError(f"The queue cannot be reached: {exc}") from exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(f"Consumed: {report.summary()}")

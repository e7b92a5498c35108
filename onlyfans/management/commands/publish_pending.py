from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from onlyfans import services


class Command(BaseCommand):
    help = (
        "The outbox relay, once: publish to SQS the accepted messages that are still pending "
        "(SQS was unreachable when they were accepted) and re-publish queued ones whose SQS "
        "copy went missing. A failing SQS is retried after 1 s, 2 s and 4 s. Exits 1 when SQS "
        "stayed unreachable; the messages then stay pending, nothing is lost."
    )
    # The pause between retries; tests pass their own through call_command.
    stealth_options = ("sleep",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit", type=int, default=1000, help="Publish at most N messages (default 1000)."
        )

    def handle(self, *args: Any, limit: int, **options: Any) -> None:
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        sleep = options.get("sleep") or time.sleep

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"  {done}/{total} processed")

        report = services.messages_publish_pending(limit=limit, sleep=sleep, progress=progress)
        for error in report.errors[:20]:
            self.stderr.write(f"  {error}")
        if len(report.errors) > 20:
            self.stderr.write(f"  … and {len(report.errors) - 20} more")
        summary = f"Published: {report.published}; failed (still pending): {report.failed}"
        if report.unreachable:
            raise CommandError(f"SQS stayed unreachable after the retries. {summary}", returncode=1)
        self.stdout.write(summary if report.published or report.failed else "Nothing to publish.")

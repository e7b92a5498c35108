from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from onlyfans import sqs
from onlyfans.dlq import dlq_redrive


class Command(BaseCommand):
    help = (
        "Move messages from the dead-letter queue back to the main queue, their rows back to "
        "queued with a fresh set of attempts. Copies of messages already sent or cancelled are "
        "dropped from the DLQ."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="At most N DLQ messages.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would move; change nothing."
        )

    def handle(self, *args: Any, limit: int | None, dry_run: bool, **options: Any) -> None:
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        try:
            report = dlq_redrive(
                limit=limit,
                dry_run=dry_run,
                progress=lambda n: self.stderr.write(f"… {n} DLQ messages seen"),
            )
        except sqs.QueueUnavailable as exc:
            raise CommandError(f"The queue cannot be reached: {exc}") from exc
        verb = "would be redriven" if dry_run else "redriven"
        for message_id in report.message_ids:
            self.stdout.write(f"  {message_id}")
        self.stdout.write(
            f"DLQ messages seen: {report.seen}; {verb}: {report.redriven}; "
            f"{'would be ' if dry_run else ''}discarded (already sent, cancelled or unknown): "
            f"{report.discarded}"
        )

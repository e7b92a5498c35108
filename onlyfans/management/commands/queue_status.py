from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from huntaze.core.errors import ApplicationError
from onlyfans import status as pipeline_status


class Command(BaseCommand):
    help = (
        "Print the outbound queue's status for all accounts: the same data as "
        "GET /api/onlyfans/messages/status (queue depth, in flight, DLQ count, time to drain "
        "the backlog, rate limits, last delivery attempt, health). Exits 1 when SQS cannot be "
        "reached."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json", action="store_true", help="Print the endpoint's JSON body instead of a table."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            status = pipeline_status.queue_status_get(user=None)
        except ApplicationError as exc:
            hint = " Is the local stack running (make run)?" if settings.DEBUG else ""
            raise CommandError(f"{exc.message}{hint}") from exc
        data = status.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        rows = [
            ("Queue depth", data["queue"]["depth"]),
            ("In flight", data["queue"]["inFlight"]),
            ("Dead-letter queue", data["queue"]["dlqCount"]),
            ("Total", data["queue"]["total"]),
            ("Time to drain (s)", data["processing"]["estimatedTimeSeconds"]),
            ("Rate limit", data["processing"]["rateLimit"]),
            ("Last processed at", data["processing"]["lastProcessedAt"] or "never"),
            ("Health", f"{data['health']['status']}: {data['health']['message']}"),
            ("As of", data["timestamp"]),
        ]
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            line = f"{label.ljust(width)}  {value}"
            if label == "Health" and status.health_status != "healthy":
                line = self.style.WARNING(line)
            self.stdout.write(line)

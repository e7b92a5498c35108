from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from onlyfans import sqs


class Command(BaseCommand):
    help = (
        "Create the OnlyFans outbound SQS queue and its dead-letter queue, with the redrive "
        "policy (maxReceiveCount = SQS_MAX_RECEIVE_COUNT) from the queue to the DLQ. Idempotent: "
        "existing queues are kept and their attributes brought up to date. Uses SQS_ENDPOINT_URL "
        "when set (a local SQS), AWS otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--queue-name",
            default=settings.SQS_QUEUE_NAME,
            help=f"The main queue's name (default SQS_QUEUE_NAME: {settings.SQS_QUEUE_NAME}).",
        )
        parser.add_argument(
            "--dlq-name",
            default=settings.SQS_DLQ_NAME,
            help=f"The dead-letter queue's name (default SQS_DLQ_NAME: {settings.SQS_DLQ_NAME}).",
        )

    def handle(self, *args: Any, queue_name: str, dlq_name: str, **options: Any) -> None:
        queue_name, dlq_name = queue_name.strip(), dlq_name.strip()
        if not queue_name or not dlq_name:
            raise CommandError("--queue-name and --dlq-name must not be empty.")
        if queue_name == dlq_name:
            raise CommandError("The queue and its dead-letter queue need different names.")
        where = settings.SQS_ENDPOINT_URL or f"AWS SQS ({settings.AWS_REGION})"
        try:
            main_url, dlq_url = sqs.create_queues(queue_name=queue_name, dlq_name=dlq_name)
            policy = sqs.redrive_policy(main_url)
        except sqs.QueueUnavailable as exc:
            raise CommandError(f"Could not create the queues at {where}: {exc}") from exc
        sqs.clear_caches()
        self.stdout.write(f"Queues ready at {where}:")
        self.stdout.write(f"  queue: {main_url}")
        self.stdout.write(f"  DLQ:   {dlq_url}")
        self.stdout.write(
            "  redrive policy: to the DLQ after "
            f"maxReceiveCount={policy.get('maxReceiveCount')} receives"
        )
        self.stdout.write("Configure the app with:")
        self.stdout.write(f"  SQS_RATE_LIMITER_QUEUE_URL={main_url}")
        self.stdout.write(f"  SQS_RATE_LIMITER_DLQ_URL={dlq_url}")

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from huntaze.core.ids import parse_uuid
from onlyfans.delivery import CANCELLABLE, messages_cancel
from onlyfans.models import OutboundMessage


class Command(BaseCommand):
    help = "Cancel a pending or queued message; the consumer then skips it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("message_id", help="The message's id (a UUID).")

    def handle(self, *args: Any, message_id: str, **options: Any) -> None:
        key = parse_uuid(message_id)
        if key is None:
            raise CommandError(f"{message_id!r} is not a message id (a UUID).")
        queryset = OutboundMessage.objects.filter(pk=key)
        message = queryset.first()
        if message is None:
            raise CommandError(f"No message {message_id}.")
        if message.status not in CANCELLABLE:
            raise CommandError(
                f"Message {message_id} is {message.status}; "
                "only pending or queued messages can be cancelled."
            )
        if not messages_cancel(queryset):
            raise CommandError(
                f"Message {message_id} changed state meanwhile; it was not cancelled."
            )
        self.stdout.write(f"Cancelled message {message_id}.")

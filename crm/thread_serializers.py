"""A conversation's thread as the API shows it: the message a chatter sends (the pipeline's
payload) and the thread's messages with their live delivery schedule (the pipeline's pacing
model, through onlyfans.selectors)."""

from __future__ import annotations

from collections.abc import Iterable

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.models import Message
from huntaze.core.fields import IsoDateTimeField
from huntaze.core.formats import iso_z
from onlyfans.models import MessageStatus, OutboundMessage
from onlyfans.selectors import MessageSchedule, message_schedule, message_schedules
from onlyfans.serializers import MessageInputSerializer, SendOutputSerializer


class ThreadMessageInputSerializer(MessageInputSerializer):
    """The pipeline's payload; the recipient is the conversation's fan."""

    recipientId = None  # type: ignore[assignment]  # DRF's way to drop an inherited field


class ThreadMessageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The thread's cursor: pass it as `before` or `after`.")
    conversationId = serializers.IntegerField(source="conversation_id")
    direction = serializers.CharField()
    content = serializers.CharField()
    mediaUrls = serializers.ListField(source="media_urls", child=serializers.CharField())
    sentAt = IsoDateTimeField(
        source="sent_at", help_text="When the fan sent it, or when it was written here."
    )
    status = serializers.SerializerMethodField(
        help_text="`received` for inbound messages; the pipeline's status for outbound ones "
        "(pending, queued, sending, sent, failed, dead_lettered, cancelled)."
    )
    messageId = serializers.UUIDField(
        source="outbound_id", allow_null=True, help_text="The pipeline's message id (outbound)."
    )
    estimatedSendTime = serializers.SerializerMethodField(
        help_text="Live, for outbound messages: computed when read from the account's schedule "
        "(the pipeline's ETA model); the delivery time once sent."
    )
    nextAttemptAt = serializers.SerializerMethodField(
        help_text="Not before this moment (back-off, the gateway's Retry-After); null when due."
    )
    waitingFor = serializers.SerializerMethodField(
        help_text="Why an outbound message waits: rate_limit, retry_backoff, gateway_rate_limited, "
        "redis_unavailable, scheduled; null when it does not."
    )
    deliveredAt = IsoDateTimeField(source="outbound.sent_at", allow_null=True, default=None)
    error = serializers.SerializerMethodField()

    def _schedule(self, message: Message) -> MessageSchedule | None:
        """The pipeline's live schedule of this message: from the view's context (one batch for
        the page, `thread_context`), else computed for this one message."""
        if message.outbound is None:
            return None
        schedules = self.context.get("schedules")
        if schedules is None or message.outbound_id not in schedules:
            return message_schedule(message.outbound)
        return schedules[message.outbound_id]

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_estimatedSendTime(self, message: Message) -> str | None:  # noqa: N802 - the API's field name
        schedule = self._schedule(message)
        return iso_z(schedule.estimated_send_time) if schedule else None

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_nextAttemptAt(self, message: Message) -> str | None:  # noqa: N802 - the API's field name
        schedule = self._schedule(message)
        return iso_z(schedule.next_attempt_at) if schedule else None

    def get_waitingFor(self, message: Message) -> str | None:  # noqa: N802 - the API's field name
        schedule = self._schedule(message)
        return schedule.waiting_for if schedule else None

    def get_status(self, message: Message) -> str | None:
        if message.direction == "inbound":
            return "received"
        return message.outbound.status if message.outbound else None

    def get_error(self, message: Message) -> str | None:
        """Why delivery failed; a transient error that a retry got past is not shown."""
        outbound = message.outbound
        if outbound is None or outbound.status not in MessageStatus.failures():
            return None
        return outbound.last_error or None


def thread_context(messages: Iterable[Message]) -> dict:
    """Serializer context for a page of a thread: every outbound message's live schedule, in a
    constant number of queries (onlyfans.selectors.message_schedules)."""
    return {
        "schedules": message_schedules([m.outbound for m in messages if m.outbound is not None])
    }


class MessagePageOutputSerializer(serializers.Serializer):
    """A page of a thread (crm.selectors.messages_page), with `thread_context` as context."""

    results = ThreadMessageOutputSerializer(many=True, help_text="Newest first.")
    before = serializers.IntegerField(
        allow_null=True, help_text="Pass as `before` for the older page."
    )
    after = serializers.IntegerField(
        allow_null=True, help_text="Pass as `after` for newer messages."
    )
    hasOlder = serializers.BooleanField(source="has_older")
    hasNewer = serializers.BooleanField(source="has_newer")


class ThreadSendOutputSerializer(SendOutputSerializer):
    """The pipeline's accepted message (an OutboundMessage, as the pipeline's send answers it)
    and where it sits in the thread: context `conversation_id` and `thread_message_id`."""

    conversationId = serializers.SerializerMethodField()
    threadMessageId = serializers.SerializerMethodField(help_text="The message's id in the thread.")

    def get_conversationId(self, message: OutboundMessage) -> int:  # noqa: N802 - the API's field name
        return self.context["conversation_id"]

    def get_threadMessageId(self, message: OutboundMessage) -> int:  # noqa: N802 - the API's field name
        return self.context["thread_message_id"]

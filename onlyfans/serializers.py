"""The message payload, shared by the pipeline's API and the CRM's compose endpoint."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from huntaze.core.fields import (
    IsoDateTimeField,
    RejectUnknownFieldsMixin,
    StrictCharField,
    StrictIntegerField,
)
from huntaze.core.text import json_text_problem
from onlyfans.accepting import MessageInput
from onlyfans.models import DEFAULT_PRIORITY, Lane, MessageStatus, OutboundMessage, WaitReason
from onlyfans.pacing import message_schedule

RECIPIENT_ID_MAX_LENGTH = 128
# OnlyFans chat messages are short; 5,000 characters leaves room for long-form captions.
CONTENT_MAX_LENGTH = 5000
MEDIA_URLS_MAX = 10
MEDIA_URL_MAX_LENGTH = 2048
METADATA_MAX_BYTES = 4096
# Deeper documents exhaust Python's recursion limit when they are encoded to be saved.
METADATA_MAX_DEPTH = 32
BATCH_MAX = 10
# scheduledAt: at most this far ahead; up to SCHEDULE_PAST_TOLERANCE in the past (a client's
# clock a little behind, a slow request) is accepted and sent now; further back is refused.
SCHEDULE_MAX_AHEAD = timedelta(days=365)
SCHEDULE_PAST_TOLERANCE = timedelta(seconds=60)


# An https:// URL with a host: no control characters or spaces anywhere. The field and the
# schema check the same pattern, so the schema allows exactly what the API accepts.
HTTPS_URL_PATTERN = r"^https://[^\x00-\x20\x7f/?#]+(?:[/?#][^\x00-\x20\x7f]*)?$"


@extend_schema_field(
    {"type": "string", "pattern": HTTPS_URL_PATTERN, "maxLength": MEDIA_URL_MAX_LENGTH}
)
class HttpsUrlField(StrictCharField):
    default_error_messages = {"https": "Must be an https:// URL."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(max_length=MEDIA_URL_MAX_LENGTH, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not re.fullmatch(HTTPS_URL_PATTERN, value):
            self.fail("https")
        return value


@extend_schema_field({"type": "object", "additionalProperties": True})
class MetadataField(serializers.JSONField):
    default_error_messages = {
        "not_object": "Must be a JSON object.",
        "too_large": f"Must be at most {METADATA_MAX_BYTES} bytes as JSON.",
        "unstorable": "Must not contain NUL characters or unpaired surrogates (\\u0000, \\ud800…).",
        "too_deep": f"Must not nest more than {METADATA_MAX_DEPTH} levels deep.",
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_object")
        problem = json_text_problem(data, max_depth=METADATA_MAX_DEPTH)
        if problem:
            self.fail(problem)
        # UTF-8 bytes: ASCII escapes would count an emoji as 12 bytes instead of 4.
        size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
        if size > METADATA_MAX_BYTES:
            self.fail("too_large")
        return data


class MessageInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """A message's payload. Unknown fields are rejected (400), never silently ignored."""

    recipientId = StrictCharField(
        max_length=RECIPIENT_ID_MAX_LENGTH, help_text="The fan's OnlyFans user id."
    )
    content = StrictCharField(
        max_length=CONTENT_MAX_LENGTH,
        trim_whitespace=False,
        help_text=f"The message text: 1 to {CONTENT_MAX_LENGTH} characters, not only whitespace.",
    )
    mediaUrls = serializers.ListField(
        child=HttpsUrlField(),
        required=False,
        default=list,
        max_length=MEDIA_URLS_MAX,
        help_text=f"Up to {MEDIA_URLS_MAX} https:// URLs of media to attach.",
    )
    priority = StrictIntegerField(
        min_value=1,
        max_value=10,
        required=False,
        default=DEFAULT_PRIORITY,
        help_text="1 (lowest) to 10 (highest): an account's next free slot goes to its "
        "highest-priority waiting message.",
    )
    metadata = MetadataField(
        required=False,
        default=dict,
        help_text=f"Your own JSON object (a campaign id…), at most {METADATA_MAX_BYTES} bytes.",
    )
    lane = serializers.ChoiceField(
        choices=Lane.values,
        required=False,
        default=Lane.INTERACTIVE,
        help_text="`interactive` (replies, the default) goes before `bulk` (mass sends) on the "
        "account; a reserve of each minute's slots is interactive only, and bulk is paced evenly.",
    )

    def validate_content(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value

    def to_message_input(self) -> MessageInput:
        return message_input(self.validated_data)


def message_input(data: Mapping[str, Any]) -> MessageInput:
    return MessageInput(
        recipient_id=data["recipientId"],
        content=data["content"],
        media_urls=data.get("mediaUrls", []),
        priority=data.get("priority", DEFAULT_PRIORITY),
        metadata=data.get("metadata", {}),
        lane=data.get("lane", Lane.INTERACTIVE),
        scheduled_at=data.get("scheduledAt"),
    )


@extend_schema_field({"type": "string", "format": "date-time"})
class ScheduledAtField(serializers.Field):
    """An ISO 8601 date-time with its timezone (`Z` or an offset), from 60 s in the past (sent
    now) to 365 days ahead."""

    default_error_messages = {
        "invalid": "Must be an ISO 8601 date-time, e.g. 2026-12-24T18:00:00Z.",
        "naive": "Must include a timezone: Z or an offset such as +01:00.",
        "past": "Must not be in the past (more than 60 seconds ago).",
        "too_far": "Must be at most 365 days ahead.",
    }

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            value = parse_datetime(data.strip())
        except ValueError:
            value = None
        if value is None:
            self.fail("invalid")
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail("naive")
        now = timezone.now()
        if value < now - SCHEDULE_PAST_TOLERANCE:
            self.fail("past")
        if value > now + SCHEDULE_MAX_AHEAD:
            self.fail("too_far")
        return value

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class SendInputSerializer(MessageInputSerializer):
    """The send body: one message to one fan, from one of your OnlyFans accounts."""

    accountId = StrictIntegerField(
        required=False, min_value=1, help_text="Required when you run several OnlyFans accounts."
    )
    scheduledAt = ScheduledAtField(
        required=False,
        allow_null=True,
        help_text="Not before this moment (ISO 8601 with a timezone, at most 365 days ahead): sent "
        "in the account's first slot from then on. Up to 60 s in the past is sent now; earlier is "
        "refused. Messages due later than 15 minutes wait in the database only.",
    )


class BatchInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """1 to 10 messages from one OnlyFans account, accepted or rejected together."""

    accountId = StrictIntegerField(
        required=False, min_value=1, help_text="Required when you run several OnlyFans accounts."
    )
    # many=True builds a ListSerializer, which takes max_length (the DRF stubs do not say so).
    messages = MessageInputSerializer(many=True, allow_empty=False, max_length=BATCH_MAX)  # type: ignore[call-arg]


QUEUED_TEXT = "Message queued successfully. It will be sent shortly with rate limiting."
PENDING_TEXT = (
    "Message accepted. The queue is unreachable right now; it will be queued as soon as it "
    "answers and sent with rate limiting. Nothing is lost."
)


def _accepted_text(message: OutboundMessage) -> str:
    return PENDING_TEXT if message.status == MessageStatus.PENDING else QUEUED_TEXT


class SendOutputSerializer(serializers.Serializer):
    """An accepted message, from its OutboundMessage."""

    messageId = serializers.UUIDField(source="id")
    status = serializers.CharField()
    queuedAt = IsoDateTimeField(source="queued_at")
    estimatedSendTime = IsoDateTimeField(source="estimated_send_time")
    message = serializers.SerializerMethodField()
    scheduledAt = IsoDateTimeField(
        source="scheduled_at",
        required=False,
        help_text="Only for a message sent with scheduledAt: the time it asked for.",
    )

    def get_message(self, message: OutboundMessage) -> str:
        return _accepted_text(message)

    def to_representation(self, message: OutboundMessage) -> dict:
        data = super().to_representation(message)
        # Only when asked for: the documented response shape is unchanged for every other client.
        if data.get("scheduledAt") is None:
            data.pop("scheduledAt", None)
        return data


def send_result(message: OutboundMessage) -> dict:
    """An accepted message as the send routes answer it."""
    return SendOutputSerializer(message).data


@dataclass(frozen=True)
class BatchItem:
    index: int
    message: OutboundMessage
    error: str | None


class BatchItemOutputSerializer(serializers.Serializer):
    """One accepted message of a batch, from a BatchItem; `error` only when SQS refused it."""

    index = serializers.IntegerField()
    messageId = serializers.UUIDField(source="message.id")
    status = serializers.CharField(source="message.status")
    queuedAt = IsoDateTimeField(source="message.queued_at")
    estimatedSendTime = IsoDateTimeField(source="message.estimated_send_time")
    message = serializers.SerializerMethodField()
    error = serializers.CharField(required=False)

    def get_message(self, item: BatchItem) -> str:
        return _accepted_text(item.message)

    def to_representation(self, item: BatchItem) -> dict:
        data = super().to_representation(item)
        if data.get("error") is None:
            data.pop("error", None)
        return data


class BatchOutputSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    queued = serializers.IntegerField()
    pending = serializers.IntegerField()
    results = BatchItemOutputSerializer(many=True)


class AttemptOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    attemptedAt = IsoDateTimeField(source="attempted_at")
    outcome = serializers.CharField(
        help_text=(
            "sent, retry, failed, dead_lettered, rate_limited (a 429: waited), "
            "deferred (a 409 key in use)."
        )
    )
    httpStatus = serializers.IntegerField(source="http_status", allow_null=True)
    error = serializers.CharField()
    latencyMs = serializers.IntegerField(source="latency_ms", allow_null=True)


class MessageDetailOutputSerializer(serializers.Serializer):
    """A message, from its OutboundMessage with its live schedule attached as `live_schedule`
    (onlyfans.pacing.message_schedule: see message_detail)."""

    messageId = serializers.UUIDField(source="id")
    accountId = serializers.IntegerField(source="account_id")
    recipientId = serializers.CharField(source="recipient_id")
    content = serializers.CharField()
    mediaUrls = serializers.ListField(source="media_urls", child=serializers.CharField())
    priority = serializers.IntegerField()
    lane = serializers.ChoiceField(choices=Lane.values)
    metadata = serializers.DictField()
    status = serializers.CharField()
    attemptCount = serializers.IntegerField(
        source="attempt_count", help_text="Attempts that count towards the limit of attempts."
    )
    lastError = serializers.CharField(source="last_error")
    queuedAt = IsoDateTimeField(source="queued_at")
    estimatedSendTime = IsoDateTimeField(
        source="live_schedule.estimated_send_time",
        allow_null=True,
        help_text="Live: computed when read from the account's schedule (its next free slot, the "
        "message's rank in lane order, the reserve); the send time once sent.",
    )
    nextAttemptAt = IsoDateTimeField(
        source="live_schedule.next_attempt_at",
        allow_null=True,
        help_text="Not before this moment (back-off, the gateway's Retry-After); null when due.",
    )
    waitingFor = serializers.ChoiceField(
        source="live_schedule.waiting_for",
        choices=WaitReason.values,
        allow_null=True,
        help_text="Why the message waits; null when it does not.",
    )
    scheduledAt = IsoDateTimeField(
        source="scheduled_at",
        allow_null=True,
        help_text="The time asked for with scheduledAt; null for a message sent at once.",
    )
    sentAt = IsoDateTimeField(source="sent_at", allow_null=True)
    upstreamId = serializers.CharField(source="upstream_id")
    attempts = AttemptOutputSerializer(many=True)


def message_detail(message: OutboundMessage) -> dict:
    """A message with its live schedule (computed now) and every delivery attempt."""
    message.live_schedule = message_schedule(message)
    return MessageDetailOutputSerializer(message).data


class QueueStatusOutputSerializer(serializers.Serializer):
    """The queue's status, from onlyfans.status.QueueStatus."""

    class QueueCounts(serializers.Serializer):
        depth = serializers.IntegerField()
        inFlight = serializers.IntegerField(source="in_flight")
        dlqCount = serializers.IntegerField(source="dlq_count")
        total = serializers.IntegerField()

    class ProcessingInfo(serializers.Serializer):
        estimatedTimeSeconds = serializers.IntegerField(source="estimated_time_seconds")
        rateLimit = serializers.CharField(source="rate_limit")
        lastProcessedAt = IsoDateTimeField(source="last_processed_at", allow_null=True)

    class HealthInfo(serializers.Serializer):
        status = serializers.ChoiceField(source="health_status", choices=["healthy", "degraded"])
        message = serializers.CharField(source="health_message")

    queue = QueueCounts(source="*")
    processing = ProcessingInfo(source="*")
    health = HealthInfo(source="*")
    timestamp = IsoDateTimeField()

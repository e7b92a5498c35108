"""The message payload, shared by the pipeline's API and the CRM's compose endpoint."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlparse

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from huntaze.core.fields import RejectUnknownFieldsMixin, StrictCharField, StrictIntegerField
from onlyfans.accepting import MessageInput
from onlyfans.models import Lane, WaitReason

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


@extend_schema_field(
    {"type": "string", "format": "uri", "pattern": "^https://", "maxLength": MEDIA_URL_MAX_LENGTH}
)
class HttpsUrlField(StrictCharField):
    default_error_messages = {"https": "Must be an https:// URL."}

    def __init__(self, **kwargs):
        super().__init__(max_length=MEDIA_URL_MAX_LENGTH, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        parsed = urlparse(value)
        if parsed.scheme != "https" or not parsed.netloc or " " in value:
            self.fail("https")
        return value


def _json_problem(data) -> str | None:
    """Why a parsed JSON document cannot be stored as metadata, or None. Walked without
    recursion: depth is what is being checked."""
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > METADATA_MAX_DEPTH:
            return "too_deep"
        if isinstance(item, str):
            if not _storable(item):
                return "unstorable"
        elif isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((value, depth + 1) for value in item.values())
        elif isinstance(item, list):
            stack.extend((value, depth + 1) for value in item)
    return None


def _storable(text: str) -> bool:
    """A lone surrogate (JSON allows "\\ud800") has no UTF-8 form, and PostgreSQL's jsonb
    refuses \\u0000: either would surface as a 500 when measured or saved."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


@extend_schema_field({"type": "object", "additionalProperties": True})
class MetadataField(serializers.JSONField):
    default_error_messages = {
        "not_object": "Must be a JSON object.",
        "too_large": f"Must be at most {METADATA_MAX_BYTES} bytes as JSON.",
        "unstorable": "Must not contain NUL characters or unpaired surrogates (\\u0000, \\ud800…).",
        "too_deep": f"Must not nest more than {METADATA_MAX_DEPTH} levels deep.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_object")
        problem = _json_problem(data)
        if problem:
            self.fail(problem)
        # UTF-8 bytes: ASCII escapes would count an emoji as 12 bytes instead of 4.
        size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
        if size > METADATA_MAX_BYTES:
            self.fail("too_large")
        return data


class MessageInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """A message's payload. Unknown fields are rejected (400), never silently ignored."""

    recipientId = StrictCharField(max_length=RECIPIENT_ID_MAX_LENGTH, help_text="The fan's OnlyFans user id.")
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
        default=5,
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


def message_input(data) -> MessageInput:
    return MessageInput(
        recipient_id=data["recipientId"],
        content=data["content"],
        media_urls=data.get("mediaUrls", []),
        priority=data.get("priority", 5),
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

    def to_internal_value(self, data):
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

    def to_representation(self, value):
        return value.isoformat()


class SendInputSerializer(MessageInputSerializer):
    """The seed's send body: one message to one fan, from one of your OnlyFans accounts."""

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
    messages = MessageInputSerializer(many=True, allow_empty=False, max_length=BATCH_MAX)


class SendOutputSerializer(serializers.Serializer):
    messageId = serializers.UUIDField()
    status = serializers.CharField()
    queuedAt = serializers.DateTimeField()
    estimatedSendTime = serializers.DateTimeField()
    message = serializers.CharField()
    scheduledAt = serializers.DateTimeField(
        required=False, help_text="Only for a message sent with scheduledAt: the time it asked for."
    )


class BatchItemOutputSerializer(SendOutputSerializer):
    index = serializers.IntegerField()
    error = serializers.CharField(required=False)


class BatchOutputSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    queued = serializers.IntegerField()
    pending = serializers.IntegerField()
    results = BatchItemOutputSerializer(many=True)


class AttemptOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    attemptedAt = serializers.DateTimeField()
    outcome = serializers.CharField(
        help_text="sent, retry, failed, dead_lettered, rate_limited (a 429: waited), deferred (a 409 key in use)."
    )
    httpStatus = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    latencyMs = serializers.IntegerField(allow_null=True)


class MessageDetailOutputSerializer(serializers.Serializer):
    messageId = serializers.UUIDField()
    accountId = serializers.IntegerField()
    recipientId = serializers.CharField()
    content = serializers.CharField()
    mediaUrls = serializers.ListField(child=serializers.CharField())
    priority = serializers.IntegerField()
    lane = serializers.ChoiceField(choices=Lane.values)
    metadata = serializers.DictField()
    status = serializers.CharField()
    attemptCount = serializers.IntegerField(help_text="Attempts that count towards the limit of attempts.")
    lastError = serializers.CharField()
    queuedAt = serializers.DateTimeField()
    estimatedSendTime = serializers.DateTimeField(
        allow_null=True,
        help_text="Live: computed when read from the account's schedule (its next free slot, the "
        "message's rank in lane order, the reserve); the send time once sent.",
    )
    nextAttemptAt = serializers.DateTimeField(
        allow_null=True, help_text="Not before this moment (back-off, the gateway's Retry-After); null when due."
    )
    waitingFor = serializers.ChoiceField(
        choices=WaitReason.values, allow_null=True, help_text="Why the message waits; null when it does not."
    )
    scheduledAt = serializers.DateTimeField(
        allow_null=True, help_text="The time asked for with scheduledAt; null for a message sent at once."
    )
    sentAt = serializers.DateTimeField(allow_null=True)
    upstreamId = serializers.CharField()
    attempts = AttemptOutputSerializer(many=True)


class QueueStatusOutputSerializer(serializers.Serializer):
    class QueueCounts(serializers.Serializer):
        depth = serializers.IntegerField()
        inFlight = serializers.IntegerField()
        dlqCount = serializers.IntegerField()
        total = serializers.IntegerField()

    class ProcessingInfo(serializers.Serializer):
        estimatedTimeSeconds = serializers.IntegerField()
        rateLimit = serializers.CharField()
        lastProcessedAt = serializers.DateTimeField(allow_null=True)

    class HealthInfo(serializers.Serializer):
        status = serializers.ChoiceField(choices=["healthy", "degraded"])
        message = serializers.CharField()

    queue = QueueCounts()
    processing = ProcessingInfo()
    health = HealthInfo()
    timestamp = serializers.DateTimeField()


class ErrorSerializer(serializers.Serializer):
    """Every error answers this one shape."""

    class ErrorBody(serializers.Serializer):
        code = serializers.CharField(help_text="Stable, machine-readable: validation_error, not_found…")
        message = serializers.CharField(help_text="For humans.")
        details = serializers.DictField(
            required=False, help_text="Field-specific errors, keyed by the request's field names."
        )

    error = ErrorBody()

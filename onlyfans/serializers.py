"""The message payload, shared by the pipeline's API and the CRM's compose endpoint."""

from __future__ import annotations

import json
from urllib.parse import urlparse

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from huntaze.core.fields import RejectUnknownFieldsMixin, StrictCharField, StrictIntegerField
from huntaze.core.formats import iso_z
from huntaze.core.text import is_storable_text
from onlyfans.accepting import MessageInput
from onlyfans.models import Lane, MessageStatus, OutboundMessage, WaitReason

RECIPIENT_ID_MAX_LENGTH = 128
# OnlyFans chat messages are short; 5,000 characters leaves room for long-form captions.
CONTENT_MAX_LENGTH = 5000
MEDIA_URLS_MAX = 10
MEDIA_URL_MAX_LENGTH = 2048
METADATA_MAX_BYTES = 4096
# Deeper documents exhaust Python's recursion limit when they are encoded to be saved.
METADATA_MAX_DEPTH = 32
BATCH_MAX = 10


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
            if not is_storable_text(item):
                return "unstorable"
        elif isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((value, depth + 1) for value in item.values())
        elif isinstance(item, list):
            stack.extend((value, depth + 1) for value in item)
    return None


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
    )


class SendInputSerializer(MessageInputSerializer):
    """The seed's send body: one message to one fan, from one of your OnlyFans accounts."""

    accountId = StrictIntegerField(
        required=False, min_value=1, help_text="Required when you run several OnlyFans accounts."
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


QUEUED_TEXT = "Message queued successfully. It will be sent shortly with rate limiting."
PENDING_TEXT = (
    "Message accepted. The queue is unreachable right now; it will be queued as soon as it "
    "answers and sent with rate limiting. Nothing is lost."
)


def send_result(message: OutboundMessage) -> dict:
    """An accepted message as the send routes answer it (SendOutputSerializer's shape)."""
    return {
        "messageId": str(message.id),
        "status": message.status,
        "queuedAt": iso_z(message.queued_at),
        "estimatedSendTime": iso_z(message.estimated_send_time),
        "message": PENDING_TEXT if message.status == MessageStatus.PENDING else QUEUED_TEXT,
    }


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

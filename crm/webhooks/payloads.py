"""The webhook body: the event envelope and the data of each handled type, validated before
anything is written (a malformed event is a 400)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from crm.fields import MoneyField, StrictDateTimeField
from huntaze.core.errors import ApplicationError
from huntaze.core.fields import StrictBooleanField, StrictCharField
from huntaze.core.text import json_text_problem
from onlyfans.serializers import CONTENT_MAX_LENGTH, MEDIA_URLS_MAX, HttpsUrlField

MESSAGE_RECEIVED = "message.received"
FAN_SUBSCRIBED = "fan.subscribed"
FAN_RENEWED = "fan.renewed"
FAN_EXPIRED = "fan.expired"
EVENT_TYPES = (MESSAGE_RECEIVED, FAN_SUBSCRIBED, FAN_RENEWED, FAN_EXPIRED)


class EventSerializer(serializers.Serializer):
    id = StrictCharField(max_length=128)
    type = StrictCharField(max_length=64)
    createdAt = StrictDateTimeField(required=False)
    # The event's key (DRF's metaclass moves declared fields off the class: Serializer.data stays).
    data = serializers.DictField()  # type: ignore[assignment]


class EventFanSerializer(serializers.Serializer):
    onlyfansUserId = StrictCharField(source="onlyfans_user_id", max_length=64)
    username = StrictCharField(max_length=128, required=False, allow_blank=True)
    displayName = StrictCharField(
        source="display_name", max_length=255, required=False, allow_blank=True
    )
    subscribedAt = StrictDateTimeField(source="subscribed_at", required=False, allow_null=True)
    expiresAt = StrictDateTimeField(source="expires_at", required=False, allow_null=True)
    autoRenew = StrictBooleanField(source="auto_renew", required=False)
    subscriptionPrice = MoneyField(source="subscription_price", required=False)
    totalSpent = MoneyField(source="total_spent", required=False)
    tips = MoneyField(required=False)


class EventMessageSerializer(serializers.Serializer):
    id = StrictCharField(max_length=128)
    content = StrictCharField(
        max_length=CONTENT_MAX_LENGTH,
        allow_blank=True,
        trim_whitespace=False,
        required=False,
        default="",
    )
    mediaUrls = serializers.ListField(
        source="media_urls",
        child=HttpsUrlField(),
        required=False,
        default=list,
        max_length=MEDIA_URLS_MAX,
    )
    sentAt = StrictDateTimeField(source="sent_at", required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["content"].strip() and not attrs["media_urls"]:
            raise serializers.ValidationError("A message needs content or mediaUrls.")
        return attrs


class FanEventDataSerializer(serializers.Serializer):
    fan = EventFanSerializer()


class MessageEventDataSerializer(FanEventDataSerializer):
    message = EventMessageSerializer()


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    created_at: Any
    data: dict[str, Any]
    payload: dict[str, Any]


def parse_event(body: bytes) -> Event | None:
    """The validated event, or None for a type this endpoint does not handle."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApplicationError(
            f"The request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    except RecursionError:
        raise ApplicationError(
            "The request body is nested too deeply.", code="invalid_json"
        ) from None
    if not isinstance(payload, dict):
        raise serializers.ValidationError({"nonFieldErrors": ["The event must be a JSON object."]})
    # The raw payload is stored (WebhookEvent.payload), unknown fields included: PostgreSQL's
    # jsonb refuses NUL and lone surrogates, which JSON's \u escapes can carry.
    if json_text_problem(payload) is not None:
        raise serializers.ValidationError(
            {
                "nonFieldErrors": [
                    "The event holds a NUL character or a lone surrogate (\\u0000, \\ud800…)."
                ]
            }
        )
    envelope = EventSerializer(data=payload)
    envelope.is_valid(raise_exception=True)
    event_type = envelope.validated_data["type"]
    if event_type not in EVENT_TYPES:
        return None
    data_serializer = (
        MessageEventDataSerializer if event_type == MESSAGE_RECEIVED else FanEventDataSerializer
    )(data=envelope.validated_data["data"])
    if not data_serializer.is_valid():
        raise serializers.ValidationError({"data": data_serializer.errors})
    return Event(
        id=envelope.validated_data["id"],
        type=event_type,
        created_at=envelope.validated_data.get("createdAt") or timezone.now(),
        data=data_serializer.validated_data,
        payload=payload,
    )

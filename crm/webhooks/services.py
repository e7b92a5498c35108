"""Inbound OnlyFans events: `POST /api/onlyfans/webhooks/{accountId}`.

Signing (the sender's side)::

    X-Huntaze-Timestamp: 1730462400                      (Unix seconds)
    X-Huntaze-Signature: sha256=<hex HMAC-SHA256(secret, "{timestamp}.{raw body}")>

The secret is the account's `webhook_secret`, else ONLYFANS_WEBHOOK_SECRET. Several signatures
may be given, comma-separated (while a secret rotates). A timestamp more than
ONLYFANS_WEBHOOK_TOLERANCE_SECONDS away from now is refused, so a captured request cannot be
replayed later; within the window, the event id makes a replay change nothing.

Body::

    {"id": "evt_1", "type": "message.received", "createdAt": "2025-11-01T12:00:00Z",
     "data": {"fan": {"onlyfansUserId": "fan_123", "username": "…"},
              "message": {"id": "msg_9", "content": "hi", "mediaUrls": [], "sentAt": "…"}}}

Types: message.received (fan and conversation created when unknown; unread count up; an
archived conversation comes back to the inbox), fan.subscribed, fan.renewed, fan.expired
(data: {"fan": {…}}: the fan is created or updated).
Unknown fields are ignored (the sender may add some); known ones are checked, and a malformed
event is a 400 that writes nothing. Other types are acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import serializers, status

from crm import services
from crm.campaigns import services as campaigns
from crm.models import SkipReason, SubscriptionStatus, WebhookEvent
from crm.serializers import MoneyField, StrictDateTimeField
from huntaze.core.errors import ApplicationError, ServiceUnavailable
from huntaze.core.fields import StrictBooleanField, StrictCharField
from onlyfans.models import OnlyFansAccount
from onlyfans.serializers import CONTENT_MAX_LENGTH, MEDIA_URLS_MAX, HttpsUrlField

logger = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Huntaze-Timestamp"
SIGNATURE_HEADER = "X-Huntaze-Signature"
SIGNATURE_PREFIX = "sha256="

MESSAGE_RECEIVED = "message.received"
FAN_SUBSCRIBED = "fan.subscribed"
FAN_RENEWED = "fan.renewed"
FAN_EXPIRED = "fan.expired"
EVENT_TYPES = (MESSAGE_RECEIVED, FAN_SUBSCRIBED, FAN_RENEWED, FAN_EXPIRED)


class InvalidSignature(ApplicationError):
    status_code = status.HTTP_401_UNAUTHORIZED
    code = "invalid_signature"


# --- Signatures ----------------------------------------------------------------------------------
def secret_for(account: OnlyFansAccount) -> str | None:
    return account.webhook_secret or settings.ONLYFANS_WEBHOOK_SECRET


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(
    *, account: OnlyFansAccount, timestamp: str | None, signatures: str | None, body: bytes
) -> None:
    secret = secret_for(account)
    if not secret:
        raise ServiceUnavailable(
            "No webhook secret is configured for this account (ONLYFANS_WEBHOOK_SECRET).",
            code="webhook_not_configured",
        )
    if not timestamp or not signatures:
        raise InvalidSignature(f"The {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required.")
    timestamp = timestamp.strip()
    # isdigit() alone takes "²" (which int() refuses); more than 20 digits is no clock reading
    # and would overflow the float arithmetic below.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 20:
        raise InvalidSignature(f"{TIMESTAMP_HEADER} must be Unix seconds.")
    expected = signature(secret, timestamp, body)
    given = [value.strip() for value in signatures.split(",")]
    # compare_digest raises TypeError on a non-ASCII str (a header byte above 0x7F): such a
    # value cannot be our hex digest anyway.
    if not any(value.isascii() and hmac.compare_digest(expected, value) for value in given):
        raise InvalidSignature("The signature does not match the body.")
    # Checked after the signature so that only a genuine sender learns about its clock.
    skew = abs(time.time() - int(timestamp))
    if skew > settings.ONLYFANS_WEBHOOK_TOLERANCE_SECONDS:
        raise InvalidSignature(
            f"The timestamp is {int(skew)} seconds away from now; at most "
            f"{settings.ONLYFANS_WEBHOOK_TOLERANCE_SECONDS} are accepted.",
            code="timestamp_out_of_range",
        )


# --- Payloads ------------------------------------------------------------------------------------
class EventSerializer(serializers.Serializer):
    id = StrictCharField(max_length=128)
    type = StrictCharField(max_length=64)
    createdAt = StrictDateTimeField(required=False)
    data = serializers.DictField()


class EventFanSerializer(serializers.Serializer):
    onlyfansUserId = StrictCharField(source="onlyfans_user_id", max_length=64)
    username = StrictCharField(max_length=128, required=False, allow_blank=True)
    displayName = StrictCharField(source="display_name", max_length=255, required=False, allow_blank=True)
    subscribedAt = StrictDateTimeField(source="subscribed_at", required=False, allow_null=True)
    expiresAt = StrictDateTimeField(source="expires_at", required=False, allow_null=True)
    autoRenew = StrictBooleanField(source="auto_renew", required=False)
    subscriptionPrice = MoneyField(source="subscription_price", required=False)
    totalSpent = MoneyField(source="total_spent", required=False)
    tips = MoneyField(required=False)


class EventMessageSerializer(serializers.Serializer):
    id = StrictCharField(max_length=128)
    content = StrictCharField(max_length=CONTENT_MAX_LENGTH, allow_blank=True, trim_whitespace=False, required=False, default="")
    mediaUrls = serializers.ListField(
        source="media_urls", child=HttpsUrlField(), required=False, default=list, max_length=MEDIA_URLS_MAX
    )
    sentAt = StrictDateTimeField(source="sent_at", required=False)

    def validate(self, attrs):
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


def _storable(payload: Any) -> bool:
    """No NUL and no lone surrogate in any key or string (iterative: nesting is unbounded)."""
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                return False
            try:
                value.encode()
            except UnicodeEncodeError:
                return False
    return True


def parse_event(body: bytes) -> Event | None:
    """The validated event, or None for a type this endpoint does not handle."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApplicationError(f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    except RecursionError:
        raise ApplicationError("The request body is nested too deeply.", code="invalid_json") from None
    if not isinstance(payload, dict):
        raise serializers.ValidationError({"nonFieldErrors": ["The event must be a JSON object."]})
    # The raw payload is stored (WebhookEvent.payload), unknown fields included: PostgreSQL's
    # jsonb refuses NUL and lone surrogates, which JSON's \u escapes can carry.
    if not _storable(payload):
        raise serializers.ValidationError(
            {"nonFieldErrors": ["The event holds a NUL character or a lone surrogate (\\u0000, \\ud800…)."]}
        )
    envelope = EventSerializer(data=payload)
    envelope.is_valid(raise_exception=True)
    event_type = envelope.validated_data["type"]
    if event_type not in EVENT_TYPES:
        return None
    data_serializer = (MessageEventDataSerializer if event_type == MESSAGE_RECEIVED else FanEventDataSerializer)(
        data=envelope.validated_data["data"]
    )
    if not data_serializer.is_valid():
        raise serializers.ValidationError({"data": data_serializer.errors})
    return Event(
        id=envelope.validated_data["id"],
        type=event_type,
        created_at=envelope.validated_data.get("createdAt") or timezone.now(),
        data=data_serializer.validated_data,
        payload=payload,
    )


# --- Applying ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WebhookResult:
    status: str  # processed, duplicate, ignored
    event_id: str | None
    event_type: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "eventId": self.event_id, "type": self.event_type}


def webhook_receive(*, account: OnlyFansAccount, body: bytes) -> WebhookResult:
    """Apply one verified event, once: the event row and its effects commit together."""
    event = parse_event(body)
    if event is None:
        logger.info("CRM webhook ignored: unsupported type", extra={"accountId": account.pk})
        return WebhookResult("ignored", None, None)
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(
                account=account, event_id=event.id, event_type=event.type, payload=event.payload
            )
            _apply(account, event)
    except IntegrityError:
        if not WebhookEvent.objects.filter(account=account, event_id=event.id).exists():
            raise
        logger.info("CRM webhook duplicate", extra={"accountId": account.pk, "eventId": event.id})
        return WebhookResult("duplicate", event.id, event.type)
    logger.info(
        "CRM webhook processed",
        extra={"accountId": account.pk, "eventId": event.id, "eventType": event.type},
    )
    return WebhookResult("processed", event.id, event.type)


def _apply(account: OnlyFansAccount, event: Event) -> None:
    fan = dict(event.data["fan"])
    onlyfans_user_id = fan.pop("onlyfans_user_id")
    if event.type == MESSAGE_RECEIVED:
        message = event.data["message"]
        services.message_receive(
            account=account,
            onlyfans_user_id=onlyfans_user_id,
            fan_values=fan,
            external_id=message["id"],
            content=message["content"],
            media_urls=message["media_urls"],
            sent_at=message.get("sent_at") or event.created_at,
        )
        return
    fan["subscription_status"] = SubscriptionStatus.ACTIVE
    if event.type == FAN_SUBSCRIBED:
        fan.setdefault("subscribed_at", event.created_at)
    elif event.type == FAN_EXPIRED:
        fan["subscription_status"] = SubscriptionStatus.EXPIRED
        fan["auto_renew"] = False
        fan.setdefault("expires_at", event.created_at)
    row = services.fan_upsert(account=account, onlyfans_user_id=onlyfans_user_id, values=fan)
    if event.type == FAN_EXPIRED:
        # Their campaign messages not yet sent would reach someone who left: skip them.
        campaigns.recipients_skip_for_fan(fan=row, reason=SkipReason.UNSUBSCRIBED)

"""Applying one verified webhook event, once (the event row and its effects commit together)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from crm import services
from crm.campaigns import services as campaigns
from crm.campaigns.models import SkipReason
from crm.models import SubscriptionStatus, WebhookEvent
from crm.webhooks.payloads import FAN_EXPIRED, FAN_SUBSCRIBED, MESSAGE_RECEIVED, Event, parse_event
from onlyfans.models import OnlyFansAccount

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookResult:
    status: str  # processed, duplicate, ignored
    event_id: str | None
    event_type: str | None


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

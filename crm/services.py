"""The CRM's writes: fans, conversations, and messages in and out of a thread.

Sending goes through the pipeline (`onlyfans.services.message_send`): the thread's message is
linked to the pipeline's OutboundMessage and shows its delivery status as it moves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.campaigns import services as campaigns
from crm.campaigns.models import NOT_LAUNCHED, SkipReason
from crm.models import Conversation, Fan, Message, MessageDirection, Segment
from huntaze.core.errors import ApplicationError, Conflict
from onlyfans import services as pipeline
from onlyfans.models import OnlyFansAccount
from onlyfans.services import MessageInput, SendOutcome

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

logger = logging.getLogger(__name__)

PREVIEW_LENGTH = 140


# --- Fans ----------------------------------------------------------------------------------------
def _fan_exists() -> Conflict:
    return Conflict(
        "A fan with this OnlyFans user id already exists on this account.",
        code="fan_exists",
        details={"onlyfansUserId": ["Already used by another fan of this account."]},
    )


def fan_create(*, account: OnlyFansAccount, data: dict[str, Any]) -> Fan:
    try:
        with transaction.atomic():
            fan = Fan.objects.create(account=account, **data)
    except IntegrityError:
        raise _fan_exists() from None
    logger.info("CRM fan created", extra={"fanId": fan.pk, "accountId": account.pk})
    return fan


def fan_update(*, fan: Fan, data: dict[str, Any]) -> Fan:
    """Set the given fields (all of them for a PUT, some for a PATCH)."""
    for name, value in data.items():
        setattr(fan, name, value)
    try:
        with transaction.atomic():
            # Only these columns: a concurrent update of other fields (tags and notes edited
            # at once in the inbox) is not overwritten with this request's stale copy.
            fan.save(update_fields=[*data, "updated_at"])
            _skip_campaigns_if_unreachable(fan)
    except IntegrityError:
        raise _fan_exists() from None
    logger.info("CRM fan updated", extra={"fanId": fan.pk, "fields": sorted(data)})
    return fan


def _skip_campaigns_if_unreachable(fan: Fan) -> None:
    """A fan an edit makes no longer a subscriber gets no campaign message still unsent (the
    `fan.expired` webhook does the same; a launch skips lapsed fans)."""
    if not fan.is_reachable(timezone.now()):
        campaigns.recipients_skip_for_fan(fan=fan, reason=SkipReason.UNSUBSCRIBED)


def fan_delete(*, fan: Fan) -> None:
    """The fan and their conversation go; messages already handed to the pipeline stay there,
    except the fan's unsent campaign messages: those are cancelled, their recipients skipped."""
    fan_id = fan.pk
    with transaction.atomic():
        campaigns.recipients_skip_for_fan(fan=fan, reason=SkipReason.FAN_DELETED)
        fan.delete()
    logger.info("CRM fan deleted", extra={"fanId": fan_id})


def fan_upsert(*, account: OnlyFansAccount, onlyfans_user_id: str, values: dict[str, Any]) -> Fan:
    """Create the fan, or set these values on the existing one (webhook events)."""
    fan, created = Fan.objects.get_or_create(
        account=account, onlyfans_user_id=onlyfans_user_id, defaults=values
    )
    if not created and values:
        for name, value in values.items():
            setattr(fan, name, value)
        fan.save()
    return fan


# --- Conversations -------------------------------------------------------------------------------
def conversation_open(*, fan: Fan) -> tuple[Conversation, bool]:
    """The fan's conversation, created on first use. Returns (conversation, created)."""
    conversation, created = Conversation.objects.get_or_create(account_id=fan.account_id, fan=fan)
    if created:
        logger.info(
            "CRM conversation opened", extra={"conversationId": conversation.pk, "fanId": fan.pk}
        )
    conversation.fan = fan
    return conversation, created


def conversation_update(*, conversation: Conversation, data: dict[str, bool]) -> Conversation:
    """Pin / unpin, archive / unarchive."""
    for name in ("pinned", "archived"):
        if name in data:
            setattr(conversation, name, data[name])
    conversation.save(update_fields=[*data, "updated_at"])
    return conversation


def conversation_mark_read(*, conversation: Conversation) -> Conversation:
    now = timezone.now()
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=0, updated_at=now)
    conversation.unread_count, conversation.updated_at = 0, now
    return conversation


def _preview(content: str, media_urls: list[str]) -> str:
    text = " ".join(content.split())
    if not text and media_urls:
        return f"[{len(media_urls)} media]"
    return text if len(text) <= PREVIEW_LENGTH else text[: PREVIEW_LENGTH - 1] + "…"


def _record_in_conversation(conversation: Conversation, message: Message, *, unread: bool) -> None:
    """Move the inbox row with conditional UPDATEs, so concurrent messages lose no count and an
    older message arriving late does not replace the preview of a newer one."""
    now = timezone.now()
    changes: dict[str, Any] = {"last_activity_at": now, "updated_at": now}
    if unread:
        changes.update(unread_count=F("unread_count") + 1, archived=False)
    rows = Conversation.objects.filter(pk=conversation.pk)
    rows.update(**changes)
    rows.filter(Q(last_message_at__isnull=True) | Q(last_message_at__lte=message.sent_at)).update(
        last_message_at=message.sent_at,
        last_message_preview=_preview(message.content, message.media_urls),
        last_message_direction=message.direction,
    )


# --- Sending -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThreadSendOutcome:
    pipeline: SendOutcome
    message: Message


def ensure_can_message(conversation: Conversation) -> None:
    """OnlyFans only lets an account message its current subscribers, from an active account."""
    fan = conversation.fan
    if not fan.is_reachable(timezone.now()):
        when = f" on {fan.expires_at:%Y-%m-%d}" if fan.expires_at else ""
        raise Conflict(
            f"@{fan.username or fan.onlyfans_user_id}'s subscription expired{when}; "
            "OnlyFans only delivers messages to active subscribers.",
            code="fan_subscription_expired",
        )
    pipeline.ensure_account_active(conversation.account)


def conversation_message_send(
    *,
    user: User | AnonymousUser,
    conversation: Conversation,
    content: str,
    media_urls: list[str],
    priority: int,
    metadata: dict[str, Any],
    idempotency_key: str | None,
) -> ThreadSendOutcome:
    """Send to the conversation's fan through the pipeline and put the message in the thread.

    The thread's row and the pipeline's row commit together; the pipeline publishes to SQS once
    they have (its outbox), so neither exists without the other.
    """
    pipeline.ensure_enabled()
    ensure_can_message(conversation)
    fan = conversation.fan
    data = MessageInput(
        recipient_id=fan.onlyfans_user_id,
        content=content,
        media_urls=media_urls,
        priority=priority,
        metadata=metadata,
    )
    with transaction.atomic():
        outcome = pipeline.message_send(
            user=user, account=conversation.account, data=data, idempotency_key=idempotency_key
        )
        outbound = outcome.message
        if outbound.account_id != conversation.account_id:
            raise Conflict(
                "This Idempotency-Key was already used for a message of another account.",
                code="idempotency_key_reused",
            )
        message, created = Message.objects.get_or_create(
            outbound=outbound,
            defaults={
                "conversation": conversation,
                "direction": MessageDirection.OUTBOUND,
                "content": outbound.content,
                "media_urls": list(outbound.media_urls),
                "sent_at": outbound.queued_at,
            },
        )
        if created:
            _record_in_conversation(conversation, message, unread=False)
            # A chatter is talking to this fan: a mass message on top would read as a robot.
            campaigns.recipients_skip_for_fan(fan=fan, reason=SkipReason.REPLIED_RECENTLY)
    logger.info(
        "CRM message sent to the pipeline",
        extra={
            "conversationId": conversation.pk,
            "threadMessageId": message.pk,
            "messageId": str(outbound.id),
            "replayed": outcome.replayed,
        },
    )
    return ThreadSendOutcome(pipeline=outcome, message=message)


# --- Receiving -----------------------------------------------------------------------------------
def message_receive(
    *,
    account: OnlyFansAccount,
    fan_values: dict[str, Any],
    onlyfans_user_id: str,
    external_id: str,
    content: str,
    media_urls: list[str],
    sent_at: datetime,
) -> Message:
    """An inbound message: fan and conversation created when unknown, unread count up.

    A message already recorded (same upstream id) is returned unchanged.
    """
    # A sender's clock running ahead must not pin this message above every later one.
    sent_at = min(sent_at, timezone.now())
    fan = fan_upsert(account=account, onlyfans_user_id=onlyfans_user_id, values=fan_values)
    if fan.last_seen_at is None or sent_at > fan.last_seen_at:
        Fan.objects.filter(pk=fan.pk).update(last_seen_at=sent_at)
    conversation, _ = conversation_open(fan=fan)
    existing = Message.objects.filter(conversation=conversation, external_id=external_id).first()
    if existing is not None:
        return existing
    message = Message.objects.create(
        conversation=conversation,
        direction=MessageDirection.INBOUND,
        content=content,
        media_urls=media_urls,
        sent_at=sent_at,
        external_id=external_id,
    )
    _record_in_conversation(conversation, message, unread=True)
    return message


# --- Segments ------------------------------------------------------------------------------------
def _fans_of_account(*, account: OnlyFansAccount, fan_ids: list[int], field: str) -> list[int]:
    """The ids, checked to be fans of this account (another account's fan is unknown here)."""
    found = set(Fan.objects.filter(account=account, pk__in=fan_ids).values_list("pk", flat=True))
    unknown = [fan_id for fan_id in fan_ids if fan_id not in found]
    if unknown:
        raise ApplicationError(
            f"Invalid request: check {field}.",
            code="validation_error",
            details={field: [f"Not fans of this account: {', '.join(map(str, unknown[:20]))}."]},
        )
    return fan_ids


@transaction.atomic
def segment_create(
    *, account: OnlyFansAccount, user: User | AnonymousUser, data: dict[str, Any]
) -> Segment:
    include = _fans_of_account(
        account=account, fan_ids=data.get("include", []), field="includeFanIds"
    )
    exclude = _fans_of_account(
        account=account, fan_ids=data.get("exclude", []), field="excludeFanIds"
    )
    segment = Segment.objects.create(
        account=account,
        # Signed in (the views say so); request.user's type still includes AnonymousUser.
        created_by=user,  # type: ignore[misc]
        name=data["name"],
        rules=data.get("rules", {}),
    )
    segment.included_fans.set(include)
    segment.excluded_fans.set(exclude)
    logger.info("CRM segment created", extra={"segmentId": segment.pk, "accountId": account.pk})
    return segment


@transaction.atomic
def segment_update(*, segment: Segment, data: dict[str, Any]) -> Segment:
    if "name" in data:
        segment.name = data["name"]
    if "rules" in data:
        segment.rules = data["rules"]
    segment.save()
    if "include" in data:
        segment.included_fans.set(
            _fans_of_account(
                account=segment.account, fan_ids=data["include"], field="includeFanIds"
            )
        )
    if "exclude" in data:
        segment.excluded_fans.set(
            _fans_of_account(
                account=segment.account, fan_ids=data["exclude"], field="excludeFanIds"
            )
        )
    logger.info("CRM segment updated", extra={"segmentId": segment.pk, "fields": sorted(data)})
    return segment


class SegmentInUse(Conflict):
    code = "segment_in_use"


def segment_delete(*, segment: Segment) -> None:
    """A segment a campaign not launched yet still names stays (its audience would be gone);
    launched campaigns keep the audience they froze."""
    waiting = list(
        segment.campaigns.filter(state__in=NOT_LAUNCHED).values_list("pk", flat=True)[:20]
    )
    if waiting:
        raise SegmentInUse(
            "Campaigns not launched yet use this segment: cancel them or give them another "
            "audience first.",
            details={"campaignIds": waiting},
        )
    segment_id = segment.pk
    segment.delete()
    logger.info("CRM segment deleted", extra={"segmentId": segment_id})

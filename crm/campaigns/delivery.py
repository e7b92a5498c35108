"""What campaigns ask of the delivery pipeline, in one place: bulk-lane messages created in
batches, held while a campaign is paused, released, cancelled, and the bulk pace for forecasts.

The CRM calls the pipeline (its services and selectors); the pipeline never imports the CRM.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import QuerySet

from huntaze.core.tasks import task_enqueue
from onlyfans import selectors
from onlyfans import services as pipeline
from onlyfans.models import DEFAULT_PRIORITY, Lane, MessageStatus, OnlyFansAccount, OutboundMessage

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

BULK = Lane.BULK
CAMPAIGN_PRIORITY = DEFAULT_PRIORITY
NOT_FINAL = MessageStatus.waiting()
HOLD_UNTIL = pipeline.HOLD_UNTIL


def create_bulk(
    *,
    account: OnlyFansAccount,
    sender: User | None,
    recipient_ids: list[str],
    content: str,
    media_urls: list[str],
    metadata: dict,
    held: bool,
    ids: list,
) -> list:
    """One bulk-lane message per recipient, in one INSERT, with the given ids (one per
    recipient, in order). The account is not armed yet: the caller calls `arm` as its
    transaction's last statement."""
    return pipeline.messages_enqueue_bulk(
        user=sender,
        account=account,
        recipient_ids=recipient_ids,
        content=content,
        media_urls=media_urls,
        priority=CAMPAIGN_PRIORITY,
        metadata=metadata,
        lane=BULK,
        held=held,
        arm=False,
        ids=ids,
    )


def arm(account: OnlyFansAccount, count: int) -> None:
    """The account's wake-up for `count` new messages, recorded in the caller's transaction (its
    last statement: it locks the account until the commit) and sent to SQS after the commit."""
    pipeline.arm_in_transaction(account, count)


def unsent(message_ids: Iterable) -> QuerySet[OutboundMessage]:
    return OutboundMessage.objects.filter(pk__in=message_ids, status__in=MessageStatus.ready())


def hold(messages: QuerySet[OutboundMessage]) -> int:
    return pipeline.messages_hold(messages)


def release(messages: QuerySet[OutboundMessage], *, account: OnlyFansAccount) -> int:
    return pipeline.messages_release(messages, account=account)


def cancel(messages: QuerySet[OutboundMessage]) -> int:
    return pipeline.messages_cancel(messages)


def cancelled_ids(messages: QuerySet[OutboundMessage]) -> set:
    """Cancel these messages; the ids of those that were cancelled (not already on their way)."""
    ids = list(messages.values_list("pk", flat=True))
    pipeline.messages_cancel(OutboundMessage.objects.filter(pk__in=ids))
    return set(
        OutboundMessage.objects.filter(pk__in=ids, status=MessageStatus.CANCELLED).values_list(
            "pk", flat=True
        )
    )


def bulk_rate_per_minute(account: OnlyFansAccount) -> float:
    return selectors.bulk_rate_per_minute(account)


def advance_soon(campaign_id: int) -> None:
    """Push the launch on in the background once the transaction commits (beat's tick retries)."""

    def enqueue() -> None:
        task_enqueue("crm.tasks.campaign_advance", campaign_id)

    transaction.on_commit(enqueue, robust=True)

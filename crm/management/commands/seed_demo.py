"""Demo data for the local stack: `demo` / `demo` with one OnlyFans account, fans, conversations
and two campaigns (one finished, one running).

Only for a local DEBUG setup: it sets well-known passwords, so it refuses to run otherwise.
Running it again changes nothing (every row is found by a natural key before it is created).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from crm.management.commands._demo_campaigns import seed_campaigns
from crm.models import Conversation, Fan, Message, MessageDirection, SubscriptionStatus
from onlyfans.models import (
    AttemptOutcome,
    DeliveryAttempt,
    MessageStatus,
    OnlyFansAccount,
    OutboundMessage,
)

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"
DEMO_ACCOUNT_ID = "demo-creator"
# Signs the demo account's inbound webhooks (`manage.py send_webhook`); local only, like the
# passwords.
DEMO_WEBHOOK_SECRET = "demo-webhook-secret"


@dataclass(frozen=True)
class SampleFan:
    onlyfans_user_id: str
    username: str
    display_name: str
    total_spent: str
    tips: str
    days_subscribed: int
    expires_in_days: int
    tags: tuple[str, ...]
    status: str = SubscriptionStatus.ACTIVE


# fan_123 is the recipient of the README's curl example.
FANS = [
    SampleFan("fan_123", "alex_b", "Alex B.", "412.50", "120.00", 210, 12, ("vip", "top-spender")),
    SampleFan("fan_124", "sam.k", "Sam K.", "89.99", "15.00", 45, 3, ("expiring-soon",)),
    SampleFan("fan_125", "jordan_r", "Jordan R.", "1250.00", "640.00", 400, 25, ("vip",)),
    SampleFan("fan_126", "casey", "Casey", "9.99", "0.00", 5, 25, ("new",)),
    SampleFan(
        "fan_127",
        "riley.m",
        "Riley M.",
        "54.00",
        "4.00",
        90,
        -8,
        ("lapsed",),
        status=SubscriptionStatus.EXPIRED,
    ),
]

# (fan, [(direction, minutes ago, text)]) — a few threads for the inbox.
CONVERSATIONS = [
    (
        "fan_123",
        [
            (MessageDirection.INBOUND, 180, "Hey! Just renewed, loving the new set 😍"),
            (MessageDirection.OUTBOUND, 175, "Thank you so much Alex! More coming this week."),
            (MessageDirection.INBOUND, 30, "Any chance of a custom video?"),
        ],
    ),
    (
        "fan_124",
        [
            (
                MessageDirection.OUTBOUND,
                1440,
                "Your subscription ends in 3 days — renew for 20% off?",
            ),
            (MessageDirection.INBOUND, 1300, "Maybe, what's new this month?"),
        ],
    ),
    (
        "fan_125",
        [
            (MessageDirection.INBOUND, 60 * 24 * 3, "Thanks for the birthday message!"),
            (MessageDirection.OUTBOUND, 60 * 24 * 3 - 10, "Happy birthday Jordan 🎉"),
        ],
    ),
    (
        "fan_126",
        [
            (MessageDirection.INBOUND, 50, "Hi! Just subscribed 👋"),
            (MessageDirection.INBOUND, 45, "Do you do bundles?"),
        ],
    ),
]
# The inbox's pinned conversation.
PINNED = {"fan_125"}
# Messages that went through the pipeline, for the inbox's delivery states:
# (fan, idempotency key, minutes ago, text, status, error). The pending one is delivered by the
# local stack's worker seconds after `make run` starts; the failed one waits for Retry.
PIPELINE_MESSAGES = [
    (
        "fan_124",
        "seed-failed-1",
        1380,
        "Here's the preview I promised 💌",
        "failed",
        "Gateway answered 400: the fan has turned off messages from creators",
    ),
    (
        "fan_123",
        "seed-queued-1",
        1,
        "Custom videos start at $50 — what did you have in mind?",
        "pending",
        "",
    ),
]


class Command(BaseCommand):
    help = (
        "Create the local demo data (DEBUG only): user demo/demo owning one OnlyFans account, "
        "sample fans and conversations (its webhooks signed with a demo secret), a finished and a "
        "running campaign, and a staff "
        "superuser admin/admin. Idempotent."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo creates users with well-known passwords and only runs with "
                "DJANGO_DEBUG=true (the local stack)."
            )
        with transaction.atomic():
            counts = seed_demo()
        summary = (
            f"Demo data ready: login {DEMO_USERNAME}/{DEMO_PASSWORD}, admin "
            f"{ADMIN_USERNAME}/{ADMIN_PASSWORD}; created {counts['users']} users, "
            f"{counts['accounts']} accounts, {counts['fans']} fans, "
            f"{counts['conversations']} conversations, {counts['messages']} messages, "
            f"{counts['campaigns']} campaigns."
        )
        self.stdout.write(self.style.SUCCESS(summary))


def _user(username: str, password: str, *, superuser: bool) -> tuple[User, bool]:
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=username,
        defaults={
            "is_staff": superuser,
            "is_superuser": superuser,
            "email": f"{username}@example.com",
        },
    )
    # A well-known password, restored on every run so the printed login always works.
    if created or not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    return user, created


def seed_demo() -> dict[str, int]:
    counts = dict.fromkeys(["users", "accounts", "fans", "conversations", "messages"], 0)
    demo, created = _user(DEMO_USERNAME, DEMO_PASSWORD, superuser=False)
    counts["users"] += created
    _, created = _user(ADMIN_USERNAME, ADMIN_PASSWORD, superuser=True)
    counts["users"] += created

    account, created = OnlyFansAccount.objects.get_or_create(
        owner=demo,
        onlyfans_id=DEMO_ACCOUNT_ID,
        defaults={
            "username": "demo_creator",
            "display_name": "Demo Creator",
            "webhook_secret": DEMO_WEBHOOK_SECRET,
        },
    )
    counts["accounts"] += created
    if not account.webhook_secret:
        account.webhook_secret = DEMO_WEBHOOK_SECRET
        account.save(update_fields=["webhook_secret"])

    now = timezone.now()
    fans: dict[str, Fan] = {}
    for sample in FANS:
        fan, created = Fan.objects.get_or_create(
            account=account,
            onlyfans_user_id=sample.onlyfans_user_id,
            defaults={
                "username": sample.username,
                "display_name": sample.display_name,
                "subscription_status": sample.status,
                "subscribed_at": now - timedelta(days=sample.days_subscribed),
                "expires_at": now + timedelta(days=sample.expires_in_days),
                "subscription_price": Decimal("9.99"),
                "total_spent": Decimal(sample.total_spent),
                "tips": Decimal(sample.tips),
                "last_seen_at": now - timedelta(hours=len(fans) * 7 + 1),
                "tags": list(sample.tags),
            },
        )
        fans[sample.onlyfans_user_id] = fan
        counts["fans"] += created

    for fan_id, thread in CONVERSATIONS:
        conversation, created = Conversation.objects.get_or_create(
            account=account, fan=fans[fan_id]
        )
        counts["conversations"] += created
        if not created:
            continue
        for index, (direction, minutes_ago, text) in enumerate(thread):
            Message.objects.create(
                conversation=conversation,
                direction=direction,
                content=text,
                sent_at=now - timedelta(minutes=minutes_ago),
                external_id=f"seed-{fan_id}-{index}",
            )
            counts["messages"] += 1
        last_direction, last_minutes, last_text = thread[-1]
        conversation.last_message_at = now - timedelta(minutes=last_minutes)
        conversation.last_activity_at = conversation.last_message_at
        conversation.last_message_preview = last_text[:255]
        conversation.last_message_direction = last_direction
        # The fan's messages since our last reply are unread.
        unread = 0
        for direction, _, _ in reversed(thread):
            if direction != MessageDirection.INBOUND:
                break
            unread += 1
        conversation.unread_count = unread
        conversation.pinned = fan_id in PINNED
        conversation.save(
            update_fields=[
                "last_message_at", "last_activity_at", "last_message_preview",
                "last_message_direction", "unread_count", "pinned",
            ]
        )  # fmt: skip
    counts["messages"] += _seed_pipeline_messages(demo, account, fans, now)
    counts["campaigns"] = seed_campaigns(demo, account, fans, now)
    return counts


def _seed_pipeline_messages(
    demo: User, account: OnlyFansAccount, fans: dict[str, Fan], now: datetime
) -> int:
    created_count = 0
    for fan_id, key, minutes_ago, text, status, error in PIPELINE_MESSAGES:
        when = now - timedelta(minutes=minutes_ago)
        outbound, created = OutboundMessage.objects.get_or_create(
            sender=demo,
            idempotency_key=key,
            defaults={
                "account": account,
                "recipient_id": fan_id,
                "content": text,
                "status": status,
                "last_error": error,
                "queued_at": when,
                "estimated_send_time": when,
                "attempt_count": 1 if status == MessageStatus.FAILED else 0,
            },
        )
        if not created:
            continue
        if status == MessageStatus.FAILED:
            DeliveryAttempt.objects.create(
                message=outbound, number=1, attempted_at=when, outcome=AttemptOutcome.FAILED,
                http_status=400, error=error, latency_ms=180,
            )  # fmt: skip
        conversation, _ = Conversation.objects.get_or_create(account=account, fan=fans[fan_id])
        Message.objects.create(
            conversation=conversation, direction=MessageDirection.OUTBOUND, content=text,
            media_urls=[], sent_at=when, outbound=outbound,
        )  # fmt: skip
        if conversation.last_message_at is None or when >= conversation.last_message_at:
            Conversation.objects.filter(pk=conversation.pk).update(
                last_message_at=when, last_activity_at=when, last_message_preview=text[:255],
                last_message_direction=MessageDirection.OUTBOUND, unread_count=0,
            )  # fmt: skip
        created_count += 1
    return created_count

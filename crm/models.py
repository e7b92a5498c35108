from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Lookup, Q
from django.utils import timezone

# Django registers an app's models from its `models` module: the campaign models live in
# crm/campaigns/models.py and are registered by this import.
from crm.campaigns import models as campaign_models  # noqa: F401
from onlyfans.models import OnlyFansAccount, OutboundMessage

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

    from crm.delivery_state import DeliveryState


def _money_field() -> models.DecimalField:
    return models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )


_PLAIN_TAG = re.compile(r"[A-Za-z0-9 _.:#@+-]*")


class HasElement(Lookup):
    """`tags__has_element="vip"`: a JSON array holds this string. Django's `contains` on a
    JSONField does not run on SQLite; this lookup runs on both (a GIN index on PostgreSQL)."""

    lookup_name = "has_element"
    prepare_rhs = False

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple[str | int, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        value = str(self.rhs)
        exact = f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE json_each.value = %s)"
        if not _PLAIN_TAG.fullmatch(value):
            return exact, (*lhs_params, value)
        # A plain ASCII string is written `"vip"` by every JSON encoder: a substring test
        # skips most rows before the (twice as costly) json_each.
        return f"instr({lhs}, %s) > 0 AND {exact}", (*lhs_params, f'"{value}"', *lhs_params, value)

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple[str | int, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} @> %s::jsonb", (*lhs_params, json.dumps([str(self.rhs)]))


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"


def unreachable_fans(now: datetime) -> Q:
    """Fans OnlyFans no longer delivers to: not subscribed, or past an expiry that does not
    renew (the webhook saying so may not have come yet)."""
    return ~Q(subscription_status=SubscriptionStatus.ACTIVE) | Q(
        expires_at__lt=now, auto_renew=False
    )


# Filter columns carried by the fans list's ordering indexes (see Fan.Meta.indexes).
LIST_FILTER_COLUMNS = ("subscription_status", "total_spent", "expires_at")


class Fan(models.Model):
    """A fan of one OnlyFans account, with what they spend and their subscription."""

    # Not a column: set on listed fans by selectors.with_conversation_ids() for the API.
    conversation_id: int | None

    # Indexed by the unique constraint and the list indexes, which all start with the account.
    account = models.ForeignKey(
        OnlyFansAccount, on_delete=models.CASCADE, related_name="fans", db_index=False
    )
    onlyfans_user_id = models.CharField("OnlyFans user id", max_length=64)
    username = models.CharField(max_length=128, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    subscription_status = models.CharField(
        max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    subscribed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    auto_renew = models.BooleanField(default=False)
    subscription_price = _money_field()
    total_spent = _money_field()
    tips = _money_field()
    last_seen_at = models.DateTimeField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    tags.register_lookup(HasElement)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "onlyfans_user_id"], name="fan_unique_per_account"
            ),
            models.CheckConstraint(
                condition=Q(total_spent__gte=0) & Q(tips__gte=0) & Q(subscription_price__gte=0),
                name="fan_money_not_negative",
            ),
        ]
        # The fans list (crm.selectors.fans_list). Each ordering index is (account, column, id),
        # walked in either direction, and carries the filter columns after them so that the
        # COUNT of a filtered list reads the index alone, never the table. Measured in
        # bench/crm_fans_list.py. Migration 0004 adds a GIN index on tags and NULLS FIRST date
        # indexes (PostgreSQL); migration 0006 a covering (account, tags) index (SQLite).
        indexes = [
            models.Index(
                fields=["account", "created_at", "id", *LIST_FILTER_COLUMNS], name="fan_created_idx"
            ),
            models.Index(
                fields=["account", "total_spent", "id", "subscription_status", "expires_at"],
                name="fan_spend_idx",
            ),
            models.Index(
                fields=["account", "last_seen_at", "id", *LIST_FILTER_COLUMNS],
                name="fan_last_seen_idx",
            ),
            models.Index(
                fields=["account", "subscribed_at", "id", *LIST_FILTER_COLUMNS],
                name="fan_subscribed_idx",
            ),
            # "Expiring within N days": active fans by expiry date.
            models.Index(
                fields=["account", "subscription_status", "expires_at"], name="fan_expiry_idx"
            ),
            # Search matches a substring, which no B-tree can seek; this index holds every
            # searched column, so finding the matches scans it alone, not the wide table rows.
            models.Index(
                fields=["account", "username", "display_name", "onlyfans_user_id"],
                name="fan_search_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.username or self.onlyfans_user_id} on {self.account_id}"

    def is_reachable(self, now: datetime) -> bool:
        """The opposite of `unreachable_fans`, for a fan in hand."""
        lapsed = self.expires_at is not None and self.expires_at < now and not self.auto_renew
        return self.subscription_status == SubscriptionStatus.ACTIVE and not lapsed


class Conversation(models.Model):
    """The chat between an account and one of its fans: the inbox row."""

    # Indexed by the unique constraint and the inbox indexes, which all start with the account.
    account = models.ForeignKey(
        OnlyFansAccount, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    fan = models.ForeignKey(Fan, on_delete=models.CASCADE, related_name="conversations")
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_message_preview = models.CharField(max_length=255, blank=True)
    last_message_direction = models.CharField(max_length=8, blank=True)
    # When this conversation last moved (opened, a message in or out): the inbox order. Never
    # null, so the order is the same on every database.
    last_activity_at = models.DateTimeField(default=timezone.now)
    unread_count = models.PositiveIntegerField(default=0)
    pinned = models.BooleanField(default=False)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    # Not a column: set on the inbox page's rows by crm.ui.selectors ("queued" / "failed").
    marker: str

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "fan"], name="conversation_unique_per_fan"),
        ]
        # The inbox (crm.selectors.conversations_list): pinned first, then newest activity,
        # within archived or not; the unread filter has its own partial index.
        indexes = [
            models.Index(
                fields=["account", "archived", "pinned", "last_activity_at", "id"],
                name="conversation_inbox_idx",
            ),
            models.Index(
                fields=["account", "archived", "pinned", "last_activity_at", "id"],
                name="conversation_unread_idx",
                condition=Q(unread_count__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return f"conversation {self.pk} with {self.fan}"


class MessageDirection(models.TextChoices):
    INBOUND = "inbound", "From the fan"
    OUTBOUND = "outbound", "To the fan"


class Message(models.Model):
    # The thread index below starts with the conversation; a second index on it alone is waste.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    direction = models.CharField(max_length=8, choices=MessageDirection.choices)
    content = models.TextField(blank=True)
    media_urls = models.JSONField(default=list, blank=True)
    sent_at = models.DateTimeField(default=timezone.now)
    # Outbound messages go through the pipeline; their delivery state lives on that row.
    outbound = models.OneToOneField(
        OutboundMessage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="crm_message",
    )
    # Inbound events are idempotent by the upstream message id.
    external_id = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001 - NULL: no upstream id, skipped by the unique constraint
    created_at = models.DateTimeField(default=timezone.now)

    # Not columns: set on a thread's messages by crm.ui.selectors for the inbox page.
    delivery: DeliveryState | None
    campaign_name: str

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "external_id"],
                condition=Q(external_id__isnull=False),
                name="message_external_id_unique",
            ),
        ]
        indexes = [
            # The thread (crm.selectors.messages_page): the id is the cursor, in arrival order,
            # so a page never misses a message that arrives while a client pages.
            models.Index(fields=["conversation", "id"], name="message_thread_idx"),
            # "Last inbound message within N days" (segments): the fan's inbound messages by time.
            models.Index(
                fields=["conversation", "sent_at"],
                name="message_inbound_idx",
                condition=Q(direction="inbound"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} message {self.pk}"


class WebhookEvent(models.Model):
    """Inbound events already applied, by their id: a replayed event changes nothing."""

    account = models.ForeignKey(
        OnlyFansAccount, on_delete=models.CASCADE, related_name="webhook_events"
    )
    event_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "event_id"], name="webhook_event_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """A fans CSV import, run in the background for large files."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(
        OnlyFansAccount, on_delete=models.CASCADE, related_name="import_jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    filename = models.CharField(max_length=255, blank=True)
    upload = models.FileField(upload_to="imports/uploads/", blank=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    failed_rows_file = models.FileField(upload_to="imports/failed/", blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Moved by the running import at every progress report: a running job that stops
    # reporting lost its worker (crm.imports.jobs.import_job_fail_if_stale).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.id} ({self.status})"


class Segment(models.Model):
    """A saved audience of one account's fans: filter rules, plus fans added or left out by hand.

    Members are (fans matching `rules` ∪ included fans) − excluded fans; `rules = None` means no
    rule matches, so the segment is exactly its included fans. Evaluated when read (a preview)
    or frozen when a campaign launches. See crm.selectors.segment_members.
    """

    account = models.ForeignKey(OnlyFansAccount, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=120)
    # The fans list's filters, as the API takes them (camelCase): crm.selectors.FAN_RULES.
    rules = models.JSONField(null=True, blank=True, default=dict)
    included_fans = models.ManyToManyField(Fan, blank=True, related_name="+")
    excluded_fans = models.ManyToManyField(Fan, blank=True, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "created_at", "id"], name="segment_list_idx")]

    def __str__(self) -> str:
        return self.name

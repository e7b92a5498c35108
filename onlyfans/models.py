from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:
    from onlyfans.pacing import MessageSchedule


class OnlyFansAccount(models.Model):
    """An OnlyFans creator account that a user (a creator or an agency) runs through Huntaze."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="onlyfans_accounts"
    )
    onlyfans_id = models.CharField("OnlyFans account id", max_length=64)
    username = models.CharField(max_length=64)
    display_name = models.CharField(max_length=128, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(600)],
        help_text="Overrides ONLYFANS_RATE_LIMIT_PER_MINUTE for this account when set.",
    )
    webhook_secret = models.CharField(
        max_length=128, blank=True, help_text="Overrides ONLYFANS_WEBHOOK_SECRET for this account."
    )
    is_active = models.BooleanField(default=True)
    # When a consumer last called the gateway for this account: the bucket's memory of last
    # resort when Redis has lost its data (restart, failover).
    last_gateway_call_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The last delivery attempt of this row's own messages (not of another user sharing the
    # OnlyFans account), kept by a database trigger on DeliveryAttempt (migration 0007): the
    # status's lastProcessedAt, read without a join over the backlog.
    last_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The account's wake-up (onlyfans/scheduler.py): when a consumer next has to look at this
    # account (NULL: nothing waiting), and the token of the SQS wake-up armed for that moment.
    wake_at = models.DateTimeField(null=True, blank=True, editable=False)
    wake_token = models.UUIDField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "OnlyFans account"
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "onlyfans_id"], name="account_unique_per_owner"
            ),
        ]
        indexes = [
            # The relay's re-arm pass: accounts whose wake-up is overdue (lost with SQS's contents).
            models.Index(
                fields=["wake_at"], name="account_wake_idx", condition=Q(wake_at__isnull=False)
            ),
            models.Index(fields=["onlyfans_id"], name="account_onlyfans_id_idx"),
        ]

    def __str__(self) -> str:
        return f"@{self.username} ({self.onlyfans_id})"

    @property
    def effective_rate_limit(self) -> int:
        return self.rate_limit_per_minute or settings.ONLYFANS_RATE_LIMIT_PER_MINUTE


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending (accepted, not yet on the queue)"
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    DEAD_LETTERED = "dead_lettered", "Dead-lettered"
    CANCELLED = "cancelled", "Cancelled"

    # The groups of states the code asks about, named once (a classmethod: an attribute of an
    # enum class would be taken for one more member).
    @classmethod
    def ready(cls) -> tuple[MessageStatus, ...]:
        """Not yet claimed: competing for the account's next slot; still cancellable."""
        return (cls.PENDING, cls.QUEUED)

    @classmethod
    def waiting(cls) -> tuple[MessageStatus, ...]:
        """Not final: ready, or being sent."""
        return (cls.PENDING, cls.QUEUED, cls.SENDING)

    @classmethod
    def failures(cls) -> tuple[MessageStatus, ...]:
        """Final without delivery (retryable by an operator's redrive)."""
        return (cls.FAILED, cls.DEAD_LETTERED)

    @classmethod
    def final(cls) -> tuple[MessageStatus, ...]:
        return (cls.SENT, cls.FAILED, cls.DEAD_LETTERED, cls.CANCELLED)

    @classmethod
    def counted(cls) -> tuple[MessageStatus, ...]:
        """The states `BacklogCount` keeps a count of: what the status reports."""
        return (cls.PENDING, cls.QUEUED, cls.SENDING, cls.DEAD_LETTERED)


class Lane(models.TextChoices):
    """Interactive (1:1 replies) goes before bulk (mass sends) on every account; a reserve of
    each window's slots is the interactive lane's alone (onlyfans/limiter.py)."""

    INTERACTIVE = "interactive", "Interactive (replies)"
    BULK = "bulk", "Bulk (mass sends, campaigns)"


class WaitReason(models.TextChoices):
    """Why a waiting message is not being delivered right now (`waitingFor` in the API)."""

    RATE_LIMIT = "rate_limit", "The account's next slot"
    RETRY_BACKOFF = "retry_backoff", "Back-off after a transient failure"
    GATEWAY_RATE_LIMITED = "gateway_rate_limited", "The gateway's Retry-After"
    REDIS_UNAVAILABLE = "redis_unavailable", "Redis unreachable: delivery paused"
    SCHEDULED = "scheduled", "Scheduled for later"
    HELD = "held", "Held: its campaign is paused"


# A message's priority when its sender names none (1 lowest … 10 highest): every way in (the
# API, the CRM's thread and pages, campaigns) uses this one.
DEFAULT_PRIORITY = 5


class OutboundMessage(models.Model):
    """One message to one fan. The row is the record; SQS only carries its id."""

    # Not a column: the schedule computed when read, set by the message detail serializer.
    live_schedule: MessageSchedule

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(
        OnlyFansAccount, on_delete=models.PROTECT, related_name="outbound_messages"
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="outbound_messages",
    )
    recipient_id = models.CharField(max_length=128)
    content = models.TextField()
    media_urls = models.JSONField(default=list, blank=True)
    priority = models.PositiveSmallIntegerField(
        default=DEFAULT_PRIORITY, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    lane = models.CharField(max_length=16, choices=Lane.choices, default=Lane.INTERACTIVE)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.PENDING
    )
    attempt_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    estimated_send_time = models.DateTimeField(null=True, blank=True)
    # Asked for by the sender (`scheduledAt`): not sent before this moment. The dispatcher reads
    # `next_attempt_at`, set to it when accepted; this keeps the asked-for time for display.
    scheduled_at = models.DateTimeField(null=True, blank=True)
    # Not before this moment (retry back-off, a gateway's Retry-After, a scheduled send); NULL
    # or past: due, waiting only for the account's slot.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    wait_reason = models.CharField(
        max_length=24, choices=WaitReason.choices, blank=True, default=""
    )
    # The first gateway 429 of the current streak: 429s count as attempts only past the budget.
    rate_limited_since = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    upstream_id = models.CharField(max_length=128, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 - NULL: no key
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-queued_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="outbound_idempotency_key_per_sender",
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=1) & Q(priority__lte=10), name="outbound_priority_1_10"
            ),
        ]
        indexes = [
            # publish_pending (the outbox relay): pending rows and queued rows gone missing.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="outbound_relay_idx",
                condition=Q(status__in=["pending", "queued"]),
            ),
            # An account's backlog, in the order its slots are given out (estimates, deferrals).
            models.Index(
                fields=["account", "status", "-priority", "queued_at"], name="outbound_backlog_idx"
            ),
            # The dispatcher's pick (scheduler.claim_next): an account's best waiting message of
            # one lane, in lane order; and the earliest not-before of its waiting messages.
            models.Index(
                fields=["account", "lane", "-priority", "queued_at", "id"],
                name="outbound_pick_idx",
                condition=Q(status__in=["pending", "queued"]),
            ),
            models.Index(
                fields=["account", "next_attempt_at"],
                name="outbound_due_idx",
                condition=Q(status__in=["pending", "queued"]),
            ),
            # The dispatcher's one-call-at-a-time rule: an account's live claims.
            models.Index(
                fields=["account", "claimed_until"],
                name="outbound_sending_idx",
                condition=Q(status="sending"),
            ),
            # The admin's and the API's newest-first lists.
            models.Index(fields=["-queued_at"], name="outbound_queued_at_idx"),
            models.Index(fields=["recipient_id"], name="outbound_recipient_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.id} → {self.recipient_id} ({self.status})"


class BacklogCount(models.Model):
    """How many of an account row's messages are in each counted state, per lane
    (`MessageStatus.counted`): the status reads these few rows, not the backlog, so it costs the
    same at a thousand waiting messages as at a hundred thousand (onlyfans/backlog.py).

    Kept by database triggers on OutboundMessage (migration 0006), so that every write — the
    ORM's, a bulk INSERT … SELECT, a raw UPDATE — keeps it exact. SQLite's triggers update these
    rows directly (one writer at a time); PostgreSQL's, one per statement, append the
    statement's net change to BacklogDelta, which the relay folds in."""

    account_id = models.BigIntegerField()  # not a foreign key: the rows outlive a deleted account
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    lane = models.CharField(max_length=16, choices=Lane.choices)
    messages = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account_id", "status", "lane"], name="backlog_count_unique"
            )
        ]

    def __str__(self) -> str:
        return f"account {self.account_id}: {self.messages} {self.status} ({self.lane})"


class BacklogDelta(models.Model):
    """A statement's net change to BacklogCount, not yet folded in (PostgreSQL only)."""

    account_id = models.BigIntegerField(db_index=True)
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    lane = models.CharField(max_length=16, choices=Lane.choices)
    messages = models.BigIntegerField()

    def __str__(self) -> str:
        return f"account {self.account_id}: {self.messages:+d} {self.status} ({self.lane})"


class AttemptOutcome(models.TextChoices):
    SENT = "sent", "Sent"
    RETRY = "retry", "Transient failure, retried"
    FAILED = "failed", "Permanent failure"
    DEAD_LETTERED = "dead_lettered", "Transient failure, attempts exhausted"
    RATE_LIMITED = "rate_limited", "Gateway 429: waited its Retry-After"
    DEFERRED = "deferred", "Gateway 409 idempotency key in use: tried again later"


class DeliveryAttempt(models.Model):
    """One real call to the OnlyFans gateway. Rate-limit deferrals are not attempts."""

    message = models.ForeignKey(OutboundMessage, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["message", "number"]
        indexes = [models.Index(fields=["-attempted_at"], name="attempt_recent_idx")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.message_id}: {self.outcome}"


from onlyfans.sandbox.models import SandboxDelivery, SandboxFault  # noqa: E402,F401 - registered here

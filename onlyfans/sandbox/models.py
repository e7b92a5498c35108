"""The sandbox gateway's records: what it accepted, and the failures staff told it to inject."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils import timezone


class SandboxDelivery(models.Model):
    """A message the sandbox gateway accepted, as OnlyFans would have."""

    upstream_id = models.CharField(max_length=64, unique=True, default="")
    account = models.CharField("OnlyFans account id", max_length=64)
    recipient_id = models.CharField(max_length=128)
    text = models.TextField()
    media_files = models.JSONField(default=list, blank=True)
    idempotency_key = models.CharField(
        max_length=255, null=True, blank=True, unique=True
    )  # null, not "": unique
    received_at = models.DateTimeField(default=timezone.now)
    replays = models.PositiveIntegerField(
        default=0, help_text="Repeated calls with the same Idempotency-Key."
    )

    class Meta:
        app_label = "onlyfans"
        verbose_name_plural = "sandbox deliveries"
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["account", "-received_at"], name="sandbox_account_recent_idx")
        ]

    def __str__(self) -> str:
        return f"{self.upstream_id} → {self.recipient_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.upstream_id:
            self.upstream_id = f"sbx_{uuid.uuid4().hex}"
        super().save(*args, **kwargs)


class SandboxFault(models.Model):
    """Make the sandbox gateway fail the next `remaining` calls (for one account, or all)."""

    account = models.CharField(
        "OnlyFans account id", max_length=64, blank=True, help_text="Empty: every account."
    )
    status_code = models.PositiveSmallIntegerField(
        default=500,
        help_text=(
            "HTTP status to answer (429, 500, 400, …), or 0 to hang past the client's timeout."
        ),
    )
    retry_after = models.PositiveIntegerField(
        null=True, blank=True, help_text="Retry-After seconds (429)."
    )
    delay_seconds = models.FloatField(default=0, help_text="Wait this long before answering.")
    remaining = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "onlyfans"
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.status_code} × {self.remaining} ({self.account or 'all accounts'})"

"""Staff views of the pipeline: messages with their attempts, accounts with their limits."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse

from huntaze.core.formats import iso_z
from onlyfans import delivery, pacing, sqs
from onlyfans.models import (
    DeliveryAttempt,
    MessageStatus,
    OnlyFansAccount,
    OutboundMessage,
    SandboxDelivery,
    SandboxFault,
)

logger = logging.getLogger(__name__)


@admin.register(OnlyFansAccount)
class OnlyFansAccountAdmin(admin.ModelAdmin):
    list_display = [
        "username",
        "onlyfans_id",
        "owner",
        "is_active",
        "rate_limit",
        "next_free_slot",
        "backlog",
    ]
    list_filter = ["is_active"]
    search_fields = ["username", "onlyfans_id", "display_name", "owner__username"]
    readonly_fields = ["created_at", "updated_at"]
    raw_id_fields = ["owner"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OnlyFansAccount]:
        return (
            super()
            .get_queryset(request)
            .select_related("owner")
            .annotate(
                waiting=Count(
                    "outbound_messages",
                    filter=Q(outbound_messages__status__in=MessageStatus.waiting()),
                )
            )
        )

    @admin.display(description="Limit (msgs/min)")
    def rate_limit(self, account: OnlyFansAccount) -> str:
        # The limit that holds: the strictest of the users sharing this OnlyFans account.
        limit = pacing.account_pace(account.onlyfans_id).limit
        suffix = "" if account.rate_limit_per_minute else " (default)"
        shared = "" if limit == account.effective_rate_limit else f" (shared account: {limit})"
        return f"{account.effective_rate_limit}{suffix}{shared}"

    @admin.display(description="Next free slot")
    def next_free_slot(self, account: OnlyFansAccount) -> str:
        limit = pacing.account_pace(account.onlyfans_id).limit
        schedule = pacing.account_schedule(account.onlyfans_id, limit=limit, interactive_waiting=0)
        if schedule.decision is None:
            return "Redis unreachable"
        at = schedule.next_slot_at()
        wait = (at - schedule.decision.server_now).total_seconds()
        if wait <= 0:
            return "now"
        return f"in {wait:.1f} s ({iso_z(at)})"

    @admin.display(description="Backlog", ordering="waiting")
    def backlog(self, account: OnlyFansAccount) -> int:
        return account.waiting  # type: ignore[attr-defined]  # annotated by get_queryset


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "number",
        "attempted_at",
        "outcome",
        "http_status",
        "latency_ms",
        "error",
    )
    ordering = ["number"]

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "account",
        "recipient_id",
        "status",
        "priority",
        "lane",
        "attempt_count",
        "queued_at",
        "estimated_send_time",
        "sent_at",
    ]
    list_filter = ["status", "lane", "priority", "account", "queued_at", "sent_at"]
    date_hierarchy = "queued_at"
    search_fields = ["=id", "recipient_id", "content"]
    list_select_related = ["account"]
    inlines = [DeliveryAttemptInline]
    actions = ["redrive_selected", "cancel_selected"]
    # Everything is the pipeline's record; staff change it only through the actions.
    readonly_fields = [
        "id",
        "account",
        "sender",
        "recipient_id",
        "content",
        "media_urls",
        "priority",
        "lane",
        "metadata",
        "status",
        "wait_reason",
        "rate_limited_since",
        "attempt_count",
        "last_error",
        "queued_at",
        "published_at",
        "estimated_send_time",
        "next_attempt_at",
        "claim_token",
        "claimed_until",
        "sent_at",
        "upstream_id",
        "idempotency_key",
        "updated_at",
    ]
    change_list_template = "admin/onlyfans/outboundmessage/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = extra_context or {}
        try:
            attrs = sqs.attributes(timeout=2)
            extra_context["queue_stats"] = {
                "depth": attrs.depth + attrs.delayed,
                "in_flight": attrs.in_flight,
                "dlq_count": attrs.dlq_count,
            }
        except sqs.QueueUnavailable as exc:
            extra_context["queue_error"] = str(exc)
        return super().changelist_view(request, extra_context=extra_context)

    @admin.action(description="Retry / redrive selected failed or dead-lettered messages")
    def redrive_selected(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        selected = queryset.count()
        redriven = delivery.messages_redrive(queryset)
        _kick_relay()
        self.message_user(
            request,
            f"{redriven} message(s) sent back to the queue with a fresh set of attempts; "
            f"{selected - redriven} skipped "
            "(only failed or dead-lettered messages can be retried).",
            messages.SUCCESS if redriven else messages.WARNING,
        )

    @admin.action(description="Cancel selected pending or queued messages")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        selected = queryset.count()
        cancelled = delivery.messages_cancel(queryset)
        self.message_user(
            request,
            f"{cancelled} message(s) cancelled; {selected - cancelled} skipped "
            "(only pending or queued messages can be cancelled).",
            messages.SUCCESS if cancelled else messages.WARNING,
        )


def _kick_relay() -> None:
    """Ask a worker to publish now; beat runs the relay every few seconds anyway."""
    from onlyfans.tasks import publish_pending

    try:
        publish_pending.apply_async(expires=60, retry=False)
    except Exception as exc:  # noqa: BLE001 - the broker being down only delays publishing
        logger.warning("Could not enqueue the relay; beat will run it", extra={"error": str(exc)})


@admin.register(SandboxDelivery)
class SandboxDeliveryAdmin(admin.ModelAdmin):
    list_display = ["upstream_id", "account", "recipient_id", "received_at", "replays"]
    list_filter = ["account"]
    search_fields = ["upstream_id", "recipient_id", "idempotency_key", "text"]
    readonly_fields = [f.name for f in SandboxDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(SandboxFault)
class SandboxFaultAdmin(admin.ModelAdmin):
    list_display = [
        "status_code",
        "account",
        "remaining",
        "retry_after",
        "delay_seconds",
        "created_at",
    ]


admin.site.site_header = "Huntaze administration"
admin.site.site_title = "Huntaze"

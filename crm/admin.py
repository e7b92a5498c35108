"""Staff views of the CRM: fans, conversations, threads and the webhook events applied."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from crm.campaigns import services as campaign_services
from crm.campaigns.models import Campaign, CampaignRecipient
from crm.campaigns.selectors import campaign_progress
from crm.models import Conversation, Fan, Message, Segment, WebhookEvent
from crm.selectors import segment_members


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("id", "direction", "content", "sent_at", "delivery_status", "outbound")
    readonly_fields = fields
    ordering = ("-id",)
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).select_related("outbound")

    @admin.display(description="Delivery")
    def delivery_status(self, message: Message) -> str:
        return delivery_status(message)


def delivery_status(message: Message) -> str:
    if message.direction == "inbound":
        return "received"
    return message.outbound.status if message.outbound else "—"


@admin.register(Fan)
class FanAdmin(admin.ModelAdmin):
    list_display = (
        "onlyfans_user_id",
        "username",
        "display_name",
        "account",
        "subscription_status",
        "expires_at",
        "total_spent",
        "last_seen_at",
    )
    list_filter = ("subscription_status", "auto_renew", "account")
    search_fields = ("onlyfans_user_id", "username", "display_name", "notes")
    list_select_related = ("account",)
    readonly_fields = ("created_at", "updated_at")
    raw_id_fields = ("account",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "fan",
        "account",
        "unread_count",
        "pinned",
        "archived",
        "last_message_at",
        "last_message_preview",
    )
    list_filter = ("pinned", "archived", "account")
    search_fields = ("fan__username", "fan__display_name", "fan__onlyfans_user_id")
    list_select_related = ("fan", "account")
    raw_id_fields = ("account", "fan")
    readonly_fields = (
        "last_message_at",
        "last_message_preview",
        "last_message_direction",
        "last_activity_at",
        "created_at",
        "updated_at",
    )
    ordering = ("-last_activity_at",)
    inlines = [MessageInline]


class DeliveryStatusFilter(admin.SimpleListFilter):
    title = "delivery status"
    parameter_name = "delivery"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        from onlyfans.models import MessageStatus

        return [("received", "Received (inbound)"), *MessageStatus.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Message]) -> QuerySet[Message]:
        if self.value() == "received":
            return queryset.filter(direction="inbound")
        if self.value():
            return queryset.filter(outbound__status=self.value())
        return queryset


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "conversation",
        "direction",
        "short_content",
        "sent_at",
        "status",
        "pipeline_message",
    )
    list_filter = ("direction", DeliveryStatusFilter)
    search_fields = ("content", "external_id", "conversation__fan__username", "outbound__id")
    list_select_related = ("conversation__fan", "outbound")
    raw_id_fields = ("conversation",)
    readonly_fields = ("outbound", "pipeline_message", "status", "external_id", "created_at")
    ordering = ("-id",)

    @admin.display(description="Content")
    def short_content(self, message: Message) -> str:
        return message.content if len(message.content) <= 60 else message.content[:59] + "…"

    @admin.display(description="Status")
    def status(self, message: Message) -> str:
        return delivery_status(message)

    @admin.display(description="Pipeline message")
    def pipeline_message(self, message: Message) -> str:
        if message.outbound_id is None:
            return "—"
        try:
            url = reverse("admin:onlyfans_outboundmessage_change", args=[message.outbound_id])
        except NoReverseMatch:  # the pipeline's admin is not registered
            return str(message.outbound_id)
        return format_html('<a href="{}">{}</a>', url, message.outbound_id)


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "event_type", "account", "received_at")
    list_filter = ("event_type",)
    search_fields = ("event_id",)
    readonly_fields = ("account", "event_id", "event_type", "payload", "received_at")
    ordering = ("-received_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "members", "created_at")
    list_select_related = ("account",)
    search_fields = ("name",)
    raw_id_fields = ("account", "created_by", "included_fans", "excluded_fans")
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="fans now")
    def members(self, segment: Segment) -> int:
        return segment_members(segment).count()


class CampaignRecipientInline(admin.TabularInline):
    model = CampaignRecipient
    fields = ("recipient_id", "fan", "message", "skip_reason", "cancelled")
    readonly_fields = fields
    raw_id_fields = ("fan", "message")
    extra = 0
    max_num = 0
    show_change_link = False
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[CampaignRecipient]:
        # A campaign may hold 100,000 recipients: the page shows the first 200 (the API pages them
        # all).
        match = request.resolver_match
        campaign_id = match.kwargs.get("object_id") if match is not None else None
        if campaign_id is None:  # the add page: no campaign, so no recipients
            return super().get_queryset(request).none()
        ids = CampaignRecipient.objects.filter(campaign_id=campaign_id).order_by("id")[:200]
        return (
            super()
            .get_queryset(request)
            .filter(pk__in=ids.values("pk"))
            .select_related("fan", "message")
        )


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "state", "scheduled_at", "launched_at", "progress")
    list_filter = ("state",)
    list_select_related = ("account",)
    search_fields = ("name",)
    raw_id_fields = ("account", "created_by", "segment")
    readonly_fields = ("state", "launched_at", "audience", "audience_frozen_at",
                       "messages_created_at", "paused_at", "finished_at", "cancelled_at",
                       "created_at", "updated_at")  # fmt: skip
    inlines = [CampaignRecipientInline]
    actions = ["pause", "resume", "cancel"]

    @admin.display(description="sent / total")
    def progress(self, campaign: Campaign) -> str:
        progress = campaign_progress(campaign)
        return f"{progress.sent} / {progress.total}"

    def _act(self, request: HttpRequest, queryset: QuerySet[Campaign], action: str) -> None:
        done, refused = 0, 0
        for campaign in queryset:
            try:
                getattr(campaign_services, f"campaign_{action}")(campaign=campaign)
                done += 1
            except campaign_services.CampaignStateConflict:
                refused += 1
        past = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action]
        refusal = f"; {refused} not in a state that allows it." if refused else "."
        self.message_user(request, f"{done} campaign(s) {past}{refusal}")

    @admin.action(description="Pause the selected campaigns")
    def pause(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._act(request, queryset, "pause")

    @admin.action(description="Resume the selected campaigns")
    def resume(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._act(request, queryset, "resume")

    @admin.action(description="Cancel the selected campaigns (unsent messages are cancelled)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._act(request, queryset, "cancel")

"""The CRM's JSON, in camelCase: request bodies and query strings in, resources out.

Input serializers name the model field in `source`, so `validated_data` maps straight onto the
model and errors name the camelCase field the client sent. A thread's messages are in
crm/thread_serializers.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

from crm.fields import (
    MAX_ID,
    TAG_MAX_LENGTH,
    IdField,
    MoneyField,
    QueryBooleanField,
    QueryMoneyField,
    StrictDateTimeField,
    TagsField,
)
from crm.models import SubscriptionStatus
from huntaze.core.fields import (
    IsoDateTimeField,
    RejectUnknownFieldsMixin,
    SerializerMixinBase,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)

NOTES_MAX_LENGTH = 10_000
PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 200
FAN_ORDERINGS = (
    "-createdAt", "createdAt",
    "-totalSpent", "totalSpent",
    "-lastSeenAt", "lastSeenAt",
    "-subscribedAt", "subscribedAt",
)  # fmt: skip


# --- Query strings -----------------------------------------------------------------------------
class QuerySerializer(serializers.Serializer):
    """Query parameters validated like a body: unknown or repeated ones are a 400 naming them."""

    @classmethod
    def parse(cls, request: Request) -> dict:
        params = request.query_params
        errors = {}
        for name in params:
            if name not in cls._declared_fields:
                errors[name] = ["Unknown query parameter."]
            elif len(params.getlist(name)) > 1:
                errors[name] = ["Give this parameter once."]
        if errors:
            raise serializers.ValidationError(errors)
        serializer = cls(data=params.dict())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class PagingQuerySerializer(QuerySerializer):
    page = serializers.IntegerField(required=False, default=1, min_value=1, max_value=1_000_000)
    pageSize = serializers.IntegerField(
        required=False, default=PAGE_SIZE_DEFAULT, min_value=1, max_value=PAGE_SIZE_MAX
    )


class PageQuerySerializer(PagingQuerySerializer):
    accountId = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Only this OnlyFans account."
    )


class FanListQuerySerializer(PageQuerySerializer):
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=100,
        help_text=("Part of the username or display name, or the exact OnlyFans user id. "
                   "Empty: no search."),
    )  # fmt: skip
    subscriptionStatus = serializers.ChoiceField(choices=SubscriptionStatus.values, required=False)
    tag = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=TAG_MAX_LENGTH,
        help_text="Fans with this tag. Empty: any.",
    )
    minSpent = QueryMoneyField(
        required=False, help_text="Total spent at least this (decimal string)."
    )
    maxSpent = QueryMoneyField(
        required=False, help_text="Total spent at most this (decimal string)."
    )
    expiringWithinDays = serializers.IntegerField(
        required=False, min_value=0, max_value=3650,
        help_text="Active fans whose subscription ends within this many days from now.",
    )  # fmt: skip
    minTips = QueryMoneyField(required=False, help_text="Tips at least this (decimal string).")
    maxTips = QueryMoneyField(required=False, help_text="Tips at most this (decimal string).")
    subscribedWithinDays = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=3650,
        help_text="Fans who subscribed within this many days.",
    )
    lastInboundWithinDays = serializers.IntegerField(
        required=False, min_value=0, max_value=3650,
        help_text="Fans who sent a message within this many days.",
    )  # fmt: skip
    ordering = serializers.ChoiceField(
        choices=FAN_ORDERINGS, required=False, default="-createdAt",
        help_text="A field, `-` for descending. Fans without the date sort as the smallest value.",
    )  # fmt: skip

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return validate_ranges(attrs)


def validate_ranges(attrs: dict) -> dict:
    """A maximum below its minimum matches no fan: say so instead of answering an empty list."""
    for low_name, high_name in (("minSpent", "maxSpent"), ("minTips", "maxTips")):
        low, high = attrs.get(low_name), attrs.get(high_name)
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({high_name: [f"Must be at least {low_name}."]})
    return attrs


# --- Audience rules (segments, campaigns) ------------------------------------------------
class DaysField(StrictIntegerField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=0, max_value=3650, required=False, allow_null=True, **kwargs)


class RulesSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """The fans list's filters (crm.selectors.FAN_RULES); each absent or null rule matches any
    fan."""

    subscriptionStatus = serializers.ChoiceField(
        choices=SubscriptionStatus.values, required=False, allow_null=True
    )
    tagsAny = TagsField(required=False, help_text="Fans with at least one of these tags.")
    tagsAll = TagsField(required=False, help_text="Fans with every one of these tags.")
    minSpent = MoneyField(required=False, allow_null=True)
    maxSpent = MoneyField(required=False, allow_null=True)
    minTips = MoneyField(required=False, allow_null=True)
    maxTips = MoneyField(required=False, allow_null=True)
    expiringWithinDays = DaysField(help_text="Active fans whose subscription ends within N days.")
    subscribedWithinDays = DaysField(help_text="Fans who subscribed within the last N days.")
    lastInboundWithinDays = DaysField(help_text="Fans who sent a message within the last N days.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        rules = validate_ranges(attrs)
        # Stored as JSON: amounts as decimal strings, no "any" rule kept.
        return {
            key: str(value) if isinstance(value, Decimal) else value
            for key, value in rules.items()
            if value not in (None, [])
        }


class ConversationListQuerySerializer(PageQuerySerializer):
    search = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="Part of the fan's username or display name.",
    )
    unread = QueryBooleanField(
        required=False, help_text="true: only conversations with unread messages."
    )
    archived = QueryBooleanField(
        required=False,
        default=False,
        help_text="Archived conversations (true) or the inbox (false, the default).",
    )
    pinned = QueryBooleanField(
        required=False, help_text="Only pinned (true) or unpinned (false) conversations."
    )


class MessageListQuerySerializer(QuerySerializer):
    before = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Messages older than this message id.",
    )
    after = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Messages newer than this message id.",
    )
    limit = serializers.IntegerField(
        required=False, default=PAGE_SIZE_DEFAULT, min_value=1, max_value=PAGE_SIZE_MAX
    )


# --- Fans --------------------------------------------------------------------------------------
class ReadOnlyFieldsMixin(SerializerMixinBase):
    """Fields the server owns may come back in a PUT of a fetched resource: say they are
    read-only."""

    read_only_names: frozenset[str] = frozenset()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            given = sorted(set(data) & self.read_only_names)
            if given:
                raise serializers.ValidationError(
                    {name: ["This field is read-only."] for name in given}
                )
        return super().to_internal_value(data)


class FanInputSerializer(ReadOnlyFieldsMixin, RejectUnknownFieldsMixin, serializers.Serializer):
    read_only_names = frozenset({"id", "accountId", "conversationId", "createdAt", "updatedAt"})

    onlyfansUserId = StrictCharField(source="onlyfans_user_id", max_length=64)
    username = StrictCharField(max_length=128, required=False, allow_blank=True, default="")
    displayName = StrictCharField(
        source="display_name", max_length=255, required=False, allow_blank=True, default=""
    )
    subscriptionStatus = serializers.ChoiceField(
        source="subscription_status",
        choices=SubscriptionStatus.values,
        required=False,
        default=SubscriptionStatus.ACTIVE,
    )
    subscribedAt = StrictDateTimeField(
        source="subscribed_at", required=False, allow_null=True, default=None
    )
    expiresAt = StrictDateTimeField(
        source="expires_at", required=False, allow_null=True, default=None
    )
    autoRenew = StrictBooleanField(source="auto_renew", required=False, default=False)
    subscriptionPrice = MoneyField(
        source="subscription_price", required=False, default=Decimal("0.00")
    )
    totalSpent = MoneyField(source="total_spent", required=False, default=Decimal("0.00"))
    tips = MoneyField(required=False, default=Decimal("0.00"))
    lastSeenAt = StrictDateTimeField(
        source="last_seen_at", required=False, allow_null=True, default=None
    )
    tags = TagsField(required=False, default=list)
    notes = StrictCharField(
        max_length=NOTES_MAX_LENGTH,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        default="",
    )

    def validate_onlyfansUserId(self, value: str) -> str:  # noqa: N802 - DRF names it after the field
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()


class FanCreateInputSerializer(FanInputSerializer):
    read_only_names = FanInputSerializer.read_only_names - {"accountId"}

    accountId = IdField(
        required=False, help_text="Required when you run several OnlyFans accounts."
    )


class FanOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    accountId = serializers.IntegerField(source="account_id")
    onlyfansUserId = serializers.CharField(source="onlyfans_user_id")
    username = serializers.CharField()
    displayName = serializers.CharField(source="display_name")
    subscriptionStatus = serializers.ChoiceField(
        source="subscription_status", choices=SubscriptionStatus.values
    )
    subscribedAt = IsoDateTimeField(source="subscribed_at", allow_null=True)
    expiresAt = IsoDateTimeField(source="expires_at", allow_null=True)
    autoRenew = serializers.BooleanField(source="auto_renew")
    subscriptionPrice = MoneyField(source="subscription_price")
    totalSpent = MoneyField(source="total_spent")
    tips = MoneyField()
    lastSeenAt = IsoDateTimeField(source="last_seen_at", allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    notes = serializers.CharField()
    conversationId = serializers.IntegerField(
        source="conversation_id", allow_null=True, default=None,
        help_text="The fan's conversation, once opened (POST /api/crm/conversations).",
    )  # fmt: skip
    createdAt = IsoDateTimeField(source="created_at")
    updatedAt = IsoDateTimeField(source="updated_at")


class PageOutputSerializer(serializers.Serializer):
    """A page of a list (crm.selectors.Page); each subclass declares its `results`."""

    total = serializers.IntegerField(help_text="Items matching the filters, on every page.")
    page = serializers.IntegerField()
    pageSize = serializers.IntegerField(source="page_size")
    totalPages = serializers.IntegerField(source="total_pages")


class FanPageOutputSerializer(PageOutputSerializer):
    results = FanOutputSerializer(many=True)


# --- Conversations -----------------------------------------------------------------------------
class FanSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    onlyfansUserId = serializers.CharField(source="onlyfans_user_id")
    username = serializers.CharField()
    displayName = serializers.CharField(source="display_name")
    subscriptionStatus = serializers.CharField(source="subscription_status")
    expiresAt = IsoDateTimeField(source="expires_at", allow_null=True)
    totalSpent = MoneyField(source="total_spent")


class ConversationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    accountId = serializers.IntegerField(source="account_id")
    fan = FanSummarySerializer()
    unreadCount = serializers.IntegerField(source="unread_count")
    lastMessageAt = IsoDateTimeField(source="last_message_at", allow_null=True)
    lastMessagePreview = serializers.CharField(source="last_message_preview")
    lastMessageDirection = serializers.CharField(
        source="last_message_direction",
        help_text="inbound, outbound, or empty before the first message.",
    )
    lastActivityAt = IsoDateTimeField(source="last_activity_at")
    pinned = serializers.BooleanField()
    archived = serializers.BooleanField()
    createdAt = IsoDateTimeField(source="created_at")


class ConversationPageOutputSerializer(PageOutputSerializer):
    results = ConversationOutputSerializer(many=True)


class ConversationOpenInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    fanId = IdField(source="fan_id")


class ConversationUpdateInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    pinned = StrictBooleanField(required=False)
    archived = StrictBooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give pinned, archived or both.")
        return attrs

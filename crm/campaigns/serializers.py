"""Campaign serializers shared by more than one interface: the create body (the API and the
create page) and a campaign's progress (the API's `progress`, `manage.py campaign_status
--json`)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from crm.campaigns.models import SkipReason
from crm.campaigns.selectors import RECIPIENT_STATES, CampaignProgress
from crm.fields import IdField, IsoDateTimeField
from crm.serializers import RulesSerializer
from huntaze.core.fields import RejectUnknownFieldsMixin, StrictCharField, StrictIntegerField
from onlyfans.serializers import (
    CONTENT_MAX_LENGTH,
    MEDIA_URLS_MAX,
    HttpsUrlField,
    ScheduledAtField,
)


class CampaignCreateInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    # validate()'s "either segmentId or filter", in the schema.
    openapi_request_schema = {"oneOf": [{"required": ["segmentId"]}, {"required": ["filter"]}]}

    name = StrictCharField(max_length=120)
    content = StrictCharField(max_length=CONTENT_MAX_LENGTH)
    mediaUrls = serializers.ListField(
        child=HttpsUrlField(), max_length=MEDIA_URLS_MAX, required=False, source="media_urls"
    )
    accountId = IdField(
        required=False, help_text="Required when you run several OnlyFans accounts."
    )
    segmentId = IdField(
        required=False, help_text="The audience: a saved segment (or give `filter`)."
    )
    filter = RulesSerializer(
        required=False, source="rules", help_text="The audience as inline rules ({}: every fan)."
    )
    # A single send's rule: a timezone, at most 60 s in the past and 365 days ahead.
    scheduledAt = ScheduledAtField(required=False, allow_null=True, source="scheduled_at")
    skipIfRepliedWithinMinutes = StrictIntegerField(
        required=False, min_value=0, max_value=7 * 24 * 60, source="skip_if_replied_within_minutes",
        help_text=("Skip fans a chatter wrote to within this many minutes "
                   "(default 30; 0: never skip)."),
    )  # fmt: skip

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("segmentId" in self.initial_data) == ("filter" in self.initial_data):
            raise serializers.ValidationError(
                {"segmentId": ["Give either segmentId or filter (the audience)."]}
            )
        return attrs


class ProgressOutputSerializer(serializers.Serializer):
    total = serializers.IntegerField(
        help_text="Recipients (before launch: the audience if launched now)."
    )
    sent = serializers.IntegerField()
    remaining = serializers.IntegerField(help_text="Recipients not yet final.")
    byState = serializers.DictField(
        source="by_state",
        child=serializers.IntegerField(),
        help_text=f"Recipients by state: {', '.join(RECIPIENT_STATES)}.",
    )
    skipReasons = serializers.DictField(
        source="skip_reasons",
        child=serializers.IntegerField(),
        help_text=f"Skipped recipients by reason: {', '.join(SkipReason.values)}.",
    )
    ratePerMinute = serializers.FloatField(
        source="rate_per_minute", help_text="Sent per minute over the last 10 minutes."
    )
    bulkRatePerMinute = serializers.FloatField(
        source="bulk_rate_per_minute", help_text="What the account's bulk lane allows."
    )
    projectedFinishAt = IsoDateTimeField(source="projected_finish_at", allow_null=True)
    forecast = serializers.SerializerMethodField(
        help_text='In words: "2000 fans at 8/min ≈ 4 h 10 min".'
    )
    waitingFor = serializers.CharField(
        source="waiting_for",
        allow_null=True,
        help_text="scheduled, paused, launching, rate_limit or null.",
    )

    def get_forecast(self, progress: CampaignProgress) -> str:
        return progress.forecast

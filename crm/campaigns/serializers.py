"""A campaign's progress as the API (`progress`) and `manage.py campaign_status --json` show it."""

from __future__ import annotations

from rest_framework import serializers

from crm.campaigns.models import SkipReason
from crm.campaigns.selectors import RECIPIENT_STATES, forecast_text
from crm.fields import IsoDateTimeField


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

    def get_forecast(self, progress) -> str:
        return forecast_text(progress.remaining, progress.bulk_rate_per_minute)

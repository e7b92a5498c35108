"""Reads of campaigns, scoped to the user's accounts: the list, one campaign with its progress and
forecast, its recipients page by page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from crm.campaigns import delivery as pipeline
from crm.campaigns.forecast import (
    forecast_text,
    minutes_beyond,
    not_launched_finish,
    running_finish,
)
from crm.campaigns.models import LAUNCHED, NOT_LAUNCHED, Campaign, CampaignRecipient, CampaignState
from crm.models import Segment
from crm.selectors import (
    Page,
    audience_members,
    owned_or_404,
    paginate,
    scope_to_accounts,
    segment_get,
)
from huntaze.core.errors import InvalidInput
from onlyfans.models import MessageStatus, OnlyFansAccount
from onlyfans.selectors import account_for_user

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

# The message states a recipient can be counted in, but cancelled (which the CRM's own flag
# reaches too: cancelled before its message was created).
_MESSAGE_STATES = (
    MessageStatus.PENDING,
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.FAILED,
    MessageStatus.DEAD_LETTERED,
)
# The states a recipient is counted in (its message's status, or the CRM's own).
RECIPIENT_STATES = (
    "waiting",  # launched, its message not created yet
    *_MESSAGE_STATES,
    MessageStatus.CANCELLED,
    "skipped",
)
FINAL_STATES = (*MessageStatus.final(), "skipped")
# How far back the effective rate looks.
RATE_WINDOW = timedelta(minutes=10)


def campaigns_list(*, user: User | AnonymousUser, filters: dict[str, Any]) -> Page:
    campaigns = scope_to_accounts(
        Campaign.objects.all(), user=user, account_pk=filters.get("accountId")
    )
    if state := filters.get("state"):
        campaigns = campaigns.filter(state=state)
    return paginate(
        campaigns.order_by("-created_at", "-id"),
        page=filters["page"],
        page_size=filters["pageSize"],
    )


def campaign_get(*, user: User | AnonymousUser, campaign_id: Any) -> Campaign:
    return owned_or_404(
        Campaign.objects.select_related("account"), user=user, pk=campaign_id, what="Campaign"
    )


def _state_filters() -> dict[str, Q]:
    not_skipped = Q(skip_reason="")
    return {
        "waiting": Q(message__isnull=True, cancelled=False) & not_skipped,
        **{status: Q(message__status=status) & not_skipped for status in _MESSAGE_STATES},
        MessageStatus.CANCELLED: (
            Q(message__status=MessageStatus.CANCELLED) | Q(message__isnull=True, cancelled=True)
        )
        & not_skipped,
        "skipped": ~not_skipped,
    }


@dataclass(frozen=True)
class CampaignProgress:
    total: int
    by_state: dict[str, int]
    sent: int
    remaining: int
    rate_per_minute: float  # sent in the last RATE_WINDOW, per minute
    bulk_rate_per_minute: float  # what the account's bulk lane allows
    projected_finish_at: datetime | None
    waiting_for: str | None
    skip_reasons: dict[str, int] = field(default_factory=dict)
    forecast: str = ""  # in words, the backlog ahead included (`forecast_text`)


def campaign_progress(campaign: Campaign, *, now: datetime | None = None) -> CampaignProgress:
    now = now or timezone.now()
    recipients = campaign.recipients.all()
    counts = recipients.aggregate(
        total=Count("pk"),
        recent=Count(
            "pk",
            filter=Q(message__status=MessageStatus.SENT, message__sent_at__gte=now - RATE_WINDOW),
        ),
        **{state: Count("pk", filter=condition) for state, condition in _state_filters().items()},
    )
    by_state = {state: counts[state] for state in RECIPIENT_STATES}
    skip_reasons = dict(
        recipients.exclude(skip_reason="")
        .order_by()
        .values_list("skip_reason")
        .annotate(n=Count("pk"))
    )
    total = counts["total"]
    if campaign.audience_frozen_at is None and campaign.state in NOT_LAUNCHED:
        # Not launched yet: what it would be, evaluated now.
        total = audience_size(campaign)
    elif campaign.audience_frozen_at is None and campaign.audience and campaign.state in LAUNCHED:
        # Freezing: the audience as launched, not the recipients written so far.
        audience = campaign.audience
        total = max(total, audience_members(
            account_id=campaign.account_id, rules=audience["rules"],
            include=audience["include"], exclude=audience["exclude"],
        ).count())  # fmt: skip
    remaining = total - sum(by_state[state] for state in FINAL_STATES)
    bulk_rate = pipeline.bulk_rate_per_minute(campaign.account)
    projected, backlog_minutes = None, 0.0
    if campaign.state == CampaignState.FINISHED:
        projected = campaign.finished_at
    elif remaining > 0 and bulk_rate > 0 and campaign.state == CampaignState.RUNNING:
        # Recipients without a message yet: the launch is still writing them.
        unmessaged = by_state["waiting"] + max(total - counts["total"], 0)
        projected = running_finish(campaign, unmessaged=unmessaged, now=now)
        backlog_minutes = minutes_beyond(projected, now, remaining / bulk_rate)
    elif remaining > 0 and bulk_rate > 0 and campaign.state in NOT_LAUNCHED:
        start = max(now, campaign.scheduled_at or now)
        projected = not_launched_finish(
            campaign.account, remaining, rate=bulk_rate, start=start, now=now
        )
        backlog_minutes = minutes_beyond(projected, start, remaining / bulk_rate)
    return CampaignProgress(
        total=total,
        by_state=by_state,
        sent=by_state[MessageStatus.SENT],
        remaining=max(remaining, 0),
        rate_per_minute=round(counts["recent"] / (RATE_WINDOW.total_seconds() / 60), 2),
        bulk_rate_per_minute=round(bulk_rate, 2),
        projected_finish_at=projected,
        waiting_for=_waiting_for(campaign, remaining),
        skip_reasons=skip_reasons,
        forecast=forecast_text(remaining, round(bulk_rate, 2), backlog_minutes=backlog_minutes),
    )


def _waiting_for(campaign: Campaign, remaining: int) -> str | None:
    if campaign.state == CampaignState.SCHEDULED:
        return "scheduled"
    if campaign.state == CampaignState.PAUSED:
        return "paused"
    if campaign.state != CampaignState.RUNNING:
        return None
    if campaign.messages_created_at is None:
        return "launching"
    return "rate_limit" if remaining > 0 else None


def audience_size(campaign: Campaign) -> int:
    """How many fans the campaign would reach if launched now."""
    segment = campaign.segment  # no query when there is none
    if segment is None:
        # rules None: its segment was deleted, and it reaches no one.
        return audience_members(
            account_id=campaign.account_id, rules=campaign.rules, include=[], exclude=[]
        ).count()
    return audience_members(
        account_id=campaign.account_id,
        rules=segment.rules,
        include=segment.included_fans.values("pk"),
        exclude=segment.excluded_fans.values("pk"),
    ).count()


def recipient_state(recipient: CampaignRecipient) -> str:
    if recipient.skip_reason:
        return "skipped"
    message = recipient.message  # no query when there is none
    if message is None:
        return MessageStatus.CANCELLED if recipient.cancelled else "waiting"
    return message.status


def recipients_page(*, campaign: Campaign, filters: dict[str, Any]) -> Page:
    recipients: QuerySet[CampaignRecipient] = campaign.recipients.select_related(
        "fan", "message"
    ).order_by("id")
    if state := filters.get("state"):
        recipients = recipients.filter(_state_filters()[state])
    return paginate(recipients, page=filters["page"], page_size=filters["pageSize"])


@dataclass(frozen=True)
class ListProgress:
    total: int | None  # None before launch: the audience is counted when it is frozen
    sent: int
    final: int
    projected_finish_at: datetime | None

    @property
    def percent(self) -> int:
        return round(100 * self.final / self.total) if self.total else 0


def campaigns_progress_summary(
    campaigns: list[Campaign], *, now: datetime | None = None
) -> dict[int, ListProgress]:
    """Sent, final and total recipients of each campaign, in one query for the whole list (plus
    the bulk pace of each account among them)."""
    now = now or timezone.now()
    filters = _state_filters()
    final = Q()
    for state in FINAL_STATES:
        final |= filters[state]
    counts = {
        row["campaign_id"]: row
        for row in CampaignRecipient.objects.filter(campaign_id__in=[c.pk for c in campaigns])
        .order_by()
        .values("campaign_id")
        .annotate(
            total=Count("pk"),
            sent=Count("pk", filter=filters[MessageStatus.SENT]),
            final=Count("pk", filter=final),
        )
    }
    rates: dict[int, float] = {}
    summary = {}
    for campaign in campaigns:
        row = counts.get(campaign.pk, {"total": 0, "sent": 0, "final": 0})
        launched = campaign.launched_at is not None
        projected = campaign.finished_at if campaign.state == CampaignState.FINISHED else None
        remaining = row["total"] - row["final"]
        if campaign.state == CampaignState.RUNNING and remaining > 0:
            if campaign.account_id not in rates:
                rates[campaign.account_id] = pipeline.bulk_rate_per_minute(campaign.account)
            if rates[campaign.account_id] > 0:
                projected = now + timedelta(minutes=remaining / rates[campaign.account_id])
        summary[campaign.pk] = ListProgress(
            total=row["total"] if launched else None,
            sent=row["sent"],
            final=row["final"],
            projected_finish_at=projected,
        )
    return summary


@dataclass(frozen=True)
class AudiencePreview:
    count: int
    bulk_rate_per_minute: float
    forecast: str
    projected_finish_at: datetime | None


def audience_preview(
    *,
    account: OnlyFansAccount,
    segment: Segment | None,
    rules: dict[str, Any] | None,
    starts_at: datetime | None = None,
) -> AudiencePreview:
    """What a campaign not created yet would reach if launched now (the create form's live
    count)."""
    if segment is not None:
        members = audience_members(
            account_id=segment.account_id,
            rules=segment.rules,
            include=segment.included_fans.values("pk"),
            exclude=segment.excluded_fans.values("pk"),
        )
    else:
        members = audience_members(account_id=account.pk, rules=rules or {}, include=[], exclude=[])
    count = members.count()
    rate = round(pipeline.bulk_rate_per_minute(account), 2)
    projected, backlog_minutes = None, 0.0
    if count and rate > 0:
        now = timezone.now()
        start = max(now, starts_at) if starts_at else now
        projected = not_launched_finish(account, count, rate=rate, start=start, now=now)
        backlog_minutes = minutes_beyond(projected, start, count / rate)
    return AudiencePreview(count=count, bulk_rate_per_minute=rate,
                           forecast=forecast_text(count, rate, backlog_minutes=backlog_minutes),
                           projected_finish_at=projected)  # fmt: skip


@dataclass(frozen=True)
class SendsOverTime:
    starts_at: datetime
    ends_at: datetime
    counts: list[int]  # sends per interval, `buckets` equal intervals from starts_at to ends_at

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)


def sends_over_time(
    campaign: Campaign, *, buckets: int = 24, now: datetime | None = None
) -> SendsOverTime | None:
    """Sends per interval since launch, in one query whatever the campaign's size: a cumulative
    count at each interval's end (conditional aggregates over the recipients), then differences."""
    if campaign.launched_at is None:
        return None
    now = now or timezone.now()
    end = campaign.finished_at or campaign.cancelled_at or now
    start = campaign.launched_at
    # At least a minute wide, so that a campaign just launched draws whole bars.
    end = max(end, start + timedelta(minutes=1))
    step = (end - start) / buckets
    edges = [start + step * (i + 1) for i in range(buckets)]
    sent = Q(message__status=MessageStatus.SENT)
    totals = campaign.recipients.aggregate(
        **{
            f"e{i}": Count("pk", filter=sent & Q(message__sent_at__lte=edge))
            for i, edge in enumerate(edges)
        }
    )
    cumulative = [totals[f"e{i}"] for i in range(buckets)]
    counts = [b - a for a, b in zip([0, *cumulative[:-1]], cumulative, strict=True)]
    return SendsOverTime(starts_at=start, ends_at=end, counts=counts)


def resolve_audience(
    *, user: User | AnonymousUser, data: dict
) -> tuple[OnlyFansAccount, Segment | None]:
    """The account and segment a validated create body names, among the user's (else a 404).
    The API and the create page both go through here."""
    segment_id = data.get("segmentId")
    if segment_id is not None:
        segment = segment_get(user=user, segment_id=segment_id)
        if data.get("accountId") not in (None, segment.account_id):
            raise InvalidInput({"segmentId": ["This segment belongs to another of your accounts."]})
        return segment.account, segment
    return account_for_user(user=user, account_pk=data.get("accountId")), None

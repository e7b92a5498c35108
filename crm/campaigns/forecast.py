"""When a campaign will finish, by the pipeline's own ETA model, and the forecast in words: "2000
fans at 8/min ≈ 4 h 10 min", plus what the account's backlog adds when it goes first."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.db.models import Q, Subquery

from crm.campaigns import delivery as pipeline
from crm.campaigns.models import Campaign
from onlyfans.models import MessageStatus, OnlyFansAccount, OutboundMessage
from onlyfans.selectors import appended_eta, message_schedules


def minutes_beyond(finish: datetime, start: datetime, own_minutes: float) -> float:
    """What the backlog adds to a campaign's own length at the bulk pace."""
    return max((finish - start).total_seconds() / 60 - own_minutes, 0.0)


def not_launched_finish(
    account: OnlyFansAccount, count: int, *, rate: float, start: datetime, now: datetime
) -> datetime:
    """Launched now, its messages queue behind the account's backlog; scheduled later, it cannot
    finish before its start plus its own length at the bulk pace either."""
    finish = appended_finish(account, count)
    if start > now:
        finish = max(finish, start + timedelta(minutes=count / rate))
    return finish


def appended_finish(account: OnlyFansAccount, count: int) -> datetime:
    """When the last of `count` campaign messages written now would go out, behind the
    account's ready backlog (the pipeline's own ETA model)."""
    return appended_eta(
        account, lane=pipeline.BULK, priority=pipeline.CAMPAIGN_PRIORITY, count=count
    )


def running_finish(campaign: Campaign, *, unmessaged: int, now: datetime) -> datetime:
    """The ETA of the campaign's message that goes out last: the last of its due messages in
    lane order, or one whose retry waits longer (a held one has none), or, while the launch
    still writes messages, the last of those appended behind the backlog. One query, plus
    `message_schedules`' and `appended_eta`'s, whatever the campaign's size."""
    ready = OutboundMessage.objects.filter(
        campaign_recipient__campaign=campaign, status__in=MessageStatus.ready()
    )
    last_due = (
        ready.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("priority", "-queued_at", "-id")
        .values("pk")[:1]
    )
    last_retry = (
        ready.filter(next_attempt_at__gt=now)
        .exclude(next_attempt_at=pipeline.HOLD_UNTIL)
        .order_by("-next_attempt_at", "-id")
        .values("pk")[:1]
    )
    candidates = list(
        OutboundMessage.objects.filter(Q(pk=Subquery(last_due)) | Q(pk=Subquery(last_retry)))
    )
    etas = [
        schedule.estimated_send_time
        for schedule in message_schedules(candidates).values()
        if schedule.estimated_send_time is not None
    ]
    if unmessaged > 0:
        etas.append(appended_finish(campaign.account, unmessaged))
    return max(etas, default=now)


def forecast_text(remaining: int, rate_per_minute: float, *, backlog_minutes: float = 0) -> str:
    """The forecast in words: "2000 fans at 8/min ≈ 4 h 10 min" ("" when nothing is left), and
    the time the account's backlog adds when it goes first (the messages already waiting, a
    gateway's Retry-After): "…, plus 40 min behind the account's backlog"."""
    if remaining <= 0 or rate_per_minute <= 0:
        return ""
    text = (
        f"{remaining} fans at {rate_per_minute:g}/min"
        f" ≈ {format_duration(remaining / rate_per_minute)}"
    )
    if backlog_minutes >= 1:
        text += f", plus {format_duration(backlog_minutes)} behind the account's backlog"
    return text


def format_duration(minutes: float) -> str:
    """'4 h 10 min', '12 min', 'under a minute'."""
    if minutes < 1:
        return "under a minute"
    hours, rest = divmod(math.ceil(minutes), 60)
    return f"{hours} h {rest} min" if hours else f"{rest} min"

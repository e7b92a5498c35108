"""The pace of an OnlyFans account, in one place: its effective limit, the lane order and the
ETA model. The consumer, the 202's estimate, message detail, threads, status, the admin and the
sandbox gateway all ask this module.

- **Effective limit**: several users may run one OnlyFans account; the limiter is shared, so
  the strictest of their limits applies to all of them.
- **Lane order**: interactive before bulk, then priority 10 → 1, then acceptance order. The
  dispatcher (`scheduler.claim_next`) delivers in exactly this order.
- **ETA**: computed when read. The limiter's state (the calls of the current window, a gateway's
  Retry-After) is replayed forward with the limiter's own rules (`limiter.py`) for the messages
  ahead in lane order: every waiting interactive message before any bulk one.

For the inbox: `message_schedules(messages)` answers, for many messages at once and in a
constant number of queries, each one's live `estimatedSendTime`, `waitingFor` and
`nextAttemptAt`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from onlyfans import limiter
from onlyfans.limiter import BULK, INTERACTIVE
from onlyfans.models import Lane, MessageStatus, OnlyFansAccount, OutboundMessage, WaitReason

LANE_ORDER = (Lane.INTERACTIVE, Lane.BULK)
# Within a lane: priority 10 first, then acceptance order (the id breaks exact ties).
PICK_ORDER = ("-priority", "queued_at", "id")
# Rows that compete for an account's next slot.
READY = MessageStatus.ready()
# The ETA model replays at least this many calls of each lane exactly (twice the limit if
# more), then repeats the last window's pattern.
_SIMULATED = 64


# --- The effective limit -------------------------------------------------------------------------
@dataclass(frozen=True)
class AccountPace:
    limit: int
    last_call_at: datetime | None


def account_pace(onlyfans_id: str) -> AccountPace:
    """The limit that holds for an OnlyFans account, and its last recorded gateway call."""
    return account_paces([onlyfans_id])[onlyfans_id]


def pace_of(accounts: Iterable[OnlyFansAccount]) -> AccountPace:
    """`account_pace` from the rows of one OnlyFans account already in hand (the dispatcher's
    claim reads them anyway)."""
    default = settings.ONLYFANS_RATE_LIMIT_PER_MINUTE
    accounts = list(accounts)
    calls = [a.last_gateway_call_at for a in accounts if a.last_gateway_call_at is not None]
    return AccountPace(
        limit=min((a.rate_limit_per_minute or default for a in accounts), default=default),
        last_call_at=max(calls, default=None),
    )


def account_paces(onlyfans_ids: Iterable[str]) -> dict[str, AccountPace]:
    """`account_pace` for many OnlyFans accounts in one query."""
    ids = set(onlyfans_ids)
    default = settings.ONLYFANS_RATE_LIMIT_PER_MINUTE
    limits: dict[str, int] = {}
    calls: dict[str, datetime] = {}
    rows = OnlyFansAccount.objects.filter(onlyfans_id__in=ids).values_list(
        "onlyfans_id", "rate_limit_per_minute", "last_gateway_call_at"
    )
    for onlyfans_id, limit, called in rows:
        limits[onlyfans_id] = min(limits.get(onlyfans_id, limit or default), limit or default)
        if called is not None and (onlyfans_id not in calls or called > calls[onlyfans_id]):
            calls[onlyfans_id] = called
    return {i: AccountPace(limit=limits.get(i, default), last_call_at=calls.get(i)) for i in ids}


def effective_limits(onlyfans_ids: Iterable[str]) -> dict[str, int]:
    return {key: pace.limit for key, pace in account_paces(onlyfans_ids).items()}


# --- The ETA model ---------------------------------------------------------------------------
def _replay(
    decision: limiter.Decision, params: limiter.Params, lanes: Sequence[str]
) -> list[datetime]:
    """When each of these calls would be granted, in this order, by the limiter's rules."""
    window_calls = decision.calls
    calls = [c.at for c in window_calls]
    bulk = [c.at for c in window_calls if c.lane == BULK]
    floor = max(decision.server_now, decision.pushed_until or decision.server_now)
    window, gap = timedelta(seconds=params.window), timedelta(seconds=params.gap)
    pace = timedelta(seconds=params.bulk_pace)
    out = []
    for lane in lanes:
        at = floor
        if calls:
            at = max(at, calls[-1] + gap)
        if len(calls) >= params.limit:
            at = max(at, calls[-params.limit] + window)
        if lane == BULK:
            if bulk:
                at = max(at, bulk[-1] + pace)
            if len(bulk) >= params.bulk_cap:
                at = max(at, bulk[-params.bulk_cap] + window)
            bulk.append(at)
        calls.append(at)
        out.append(at)
    return out


def _extend(times: list[datetime], index: int, *, per_window: int, window: timedelta) -> datetime:
    """The `index`-th call of a lane whose replayed calls are `times`. A lane kept busy repeats
    its pattern every window: call k + per_window goes one window after call k (the window rule
    for replies, the even pace for bulk), so later calls are earlier ones shifted by windows."""
    if index < len(times):
        return times[index]
    windows = -(-(index - (len(times) - 1)) // per_window)
    return times[index - windows * per_window] + window * windows


@dataclass(frozen=True)
class AccountSchedule:
    """An account's upcoming slots, by lane, as the limiter will give them out."""

    decision: limiter.Decision | None  # None: Redis unreachable
    params: limiter.Params
    interactive_waiting: int  # due interactive messages, all of which go before any bulk one

    def eta(self, lane: str, rank: int) -> datetime:
        """When the message with `rank` messages ahead of it in its lane goes out."""
        now = timezone.now()
        if self.decision is None:
            return now + timedelta(seconds=self.params.window / self.params.limit * (rank + 1))
        window = timedelta(seconds=self.params.window)
        if lane != BULK:
            times = _replay(
                self.decision, self.params, [INTERACTIVE] * min(rank + 1, self._horizon())
            )
            return max(_extend(times, rank, per_window=self.params.limit, window=window), now)
        ahead = self.interactive_waiting
        shown = min(ahead, self._horizon())
        lanes = [INTERACTIVE] * shown + [BULK] * min(rank + 1, self._horizon())
        times = _replay(self.decision, self.params, lanes)
        at = _extend(times[shown:], rank, per_window=self.params.bulk_cap, window=window)
        # More replies waiting than replayed: each window gives them `limit` calls.
        at += window * ((ahead - shown) / self.params.limit)
        return max(at, now)

    def _horizon(self) -> int:
        """Calls replayed exactly: enough for the pattern of a window to repeat from."""
        return max(_SIMULATED, 2 * self.params.limit + 1)

    def next_slot_at(self) -> datetime:
        return self.eta(INTERACTIVE, 0)


def account_schedule(onlyfans_id: str, *, limit: int, interactive_waiting: int) -> AccountSchedule:
    try:
        decision = limiter.peek(onlyfans_id, limit=limit)
    except limiter.LimiterUnavailable:
        decision = None
    return AccountSchedule(decision, limiter.params_for(limit), interactive_waiting)


def ready_now(now: datetime) -> Q:
    """Ready and due at `now`: no back-off, Retry-After or scheduled moment still ahead."""
    return Q(status__in=READY) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def interactive_waiting(
    onlyfans_ids: Iterable[str], *, now: datetime | None = None
) -> dict[str, int]:
    now = now or timezone.now()
    rows = (
        OutboundMessage.objects.filter(
            ready_now(now), account__onlyfans_id__in=set(onlyfans_ids), lane=Lane.INTERACTIVE
        )
        .order_by()
        .values("account__onlyfans_id")
        .annotate(n=Count("pk"))
    )
    return {row["account__onlyfans_id"]: row["n"] for row in rows}


def estimate_new(*, account: OnlyFansAccount, items: Sequence[tuple[str, int]]) -> list[datetime]:
    """The 202's estimates for (lane, priority) messages about to be accepted together, by the
    same model as a message read later: each goes after every ready message of its lane with
    an equal or higher priority, and a bulk one after every ready interactive one (those of the
    same batch included)."""
    now = timezone.now()
    onlyfans_id = account.onlyfans_id
    limit = account_pace(onlyfans_id).limit
    rows = (
        OutboundMessage.objects.filter(ready_now(now), account__onlyfans_id=onlyfans_id)
        .order_by()
        .values_list("lane", "priority")
        .annotate(n=Count("pk"))
    )
    counts: dict[tuple[str, int], int] = {(lane, priority): n for lane, priority, n in rows}
    new_interactive = sum(1 for lane, _ in items if lane != Lane.BULK)
    waiting_interactive = sum(n for (lane, _), n in counts.items() if lane == Lane.INTERACTIVE)
    schedule = account_schedule(
        onlyfans_id, limit=limit, interactive_waiting=waiting_interactive + new_interactive
    )
    estimates: list[datetime] = []
    added: list[tuple[str, int]] = []
    for lane, priority in items:
        rank = sum(n for (other, p), n in counts.items() if other == lane and p >= priority)
        rank += sum(1 for other, p in added if other == lane and p >= priority)
        estimates.append(schedule.eta(lane, rank))
        added.append((lane, priority))
    return estimates


def appended_eta(account: OnlyFansAccount, *, lane: str, priority: int, count: int) -> datetime:
    """When the last of `count` messages of this lane and priority, accepted now, would go out:
    `estimate_new`'s model for a batch too large to list, in two queries and one Redis call
    whatever `count`. Ahead of the last one: every ready message of its lane with an equal or
    higher priority, the `count - 1` of the batch before it and, for a bulk one, every ready
    reply."""
    now = timezone.now()
    onlyfans_id = account.onlyfans_id
    limit = account_pace(onlyfans_id).limit
    backlog = OutboundMessage.objects.filter(
        ready_now(now), account__onlyfans_id=onlyfans_id
    ).aggregate(
        interactive=Count("pk", filter=Q(lane=Lane.INTERACTIVE)),
        ahead=Count("pk", filter=Q(lane=lane, priority__gte=priority)),
    )
    schedule = account_schedule(
        onlyfans_id, limit=limit, interactive_waiting=backlog["interactive"]
    )
    return schedule.eta(lane, backlog["ahead"] + max(count, 1) - 1)


# --- Live schedules for many messages (message detail, threads, the inbox) --------------------
@dataclass(frozen=True)
class MessageSchedule:
    estimated_send_time: datetime | None
    waiting_for: str | None  # a WaitReason value, or None when the message is not waiting
    next_attempt_at: datetime | None  # not before this (back-off, Retry-After), or None


def _waiting_for(message: OutboundMessage, now: datetime) -> str | None:
    if message.status not in READY:
        return None
    if message.next_attempt_at is not None and message.next_attempt_at > now:
        return message.wait_reason or WaitReason.RETRY_BACKOFF
    if message.wait_reason == WaitReason.REDIS_UNAVAILABLE:
        return WaitReason.REDIS_UNAVAILABLE
    return WaitReason.RATE_LIMIT


def message_schedules(messages: Sequence[OutboundMessage]) -> dict:
    """Each message's live ETA, `waitingFor` and `nextAttemptAt`, keyed by message id.

    Three queries whatever the number of messages (ranks, interactive backlogs, accounts and
    limits) and one Redis call per OnlyFans account involved.
    """
    now = timezone.now()
    result: dict = {}
    waiting = [m for m in messages if m.status in READY]
    for message in messages:
        if message.status == MessageStatus.SENT:
            result[message.pk] = MessageSchedule(message.sent_at, None, None)
        elif message.status not in READY:
            eta = message.estimated_send_time if message.status == MessageStatus.SENDING else None
            result[message.pk] = MessageSchedule(eta, None, None)
    if not waiting:
        return result
    ahead = OutboundMessage.objects.filter(
        ready_now(now),
        account__onlyfans_id=OuterRef("account__onlyfans_id"),
        lane=OuterRef("lane"),
    ).filter(
        Q(priority__gt=OuterRef("priority"))
        | Q(priority=OuterRef("priority"), queued_at__lt=OuterRef("queued_at"))
        | Q(priority=OuterRef("priority"), queued_at=OuterRef("queued_at"), id__lt=OuterRef("id"))
    )
    ranks = dict(
        OutboundMessage.objects.filter(pk__in=[m.pk for m in waiting])
        .annotate(
            rank=Coalesce(
                Subquery(ahead.order_by().values("lane").annotate(n=Count("pk")).values("n")[:1]), 0
            )
        )
        .values_list("pk", "rank")
    )
    # One query: the OnlyFans account of each message, and the limits of every user sharing it.
    default = settings.ONLYFANS_RATE_LIMIT_PER_MINUTE
    account_ids = {m.account_id for m in waiting}
    rows = OnlyFansAccount.objects.filter(
        onlyfans_id__in=OnlyFansAccount.objects.filter(pk__in=account_ids).values("onlyfans_id")
    ).values_list("pk", "onlyfans_id", "rate_limit_per_minute")
    onlyfans_of: dict[int, str] = {}
    limits: dict[str, int] = {}
    for pk, onlyfans_id, limit in rows:
        onlyfans_of[pk] = onlyfans_id
        limits[onlyfans_id] = min(limits.get(onlyfans_id, limit or default), limit or default)
    interactive = interactive_waiting(limits, now=now)
    schedules = {
        key: account_schedule(key, limit=limits[key], interactive_waiting=interactive.get(key, 0))
        for key in limits
    }
    for message in waiting:
        if message.wait_reason == WaitReason.HELD:
            # Held until its campaign resumes: no moment to promise.
            result[message.pk] = MessageSchedule(None, WaitReason.HELD, None)
            continue
        schedule = schedules[onlyfans_of[message.account_id]]
        eta = schedule.eta(message.lane, ranks.get(message.pk, 0))
        not_before = (
            message.next_attempt_at
            if message.next_attempt_at and message.next_attempt_at > now
            else None
        )
        if not_before is not None:
            eta = max(eta, not_before)
        result[message.pk] = MessageSchedule(eta, _waiting_for(message, now), not_before)
    return result


def message_schedule(message: OutboundMessage) -> MessageSchedule:
    return message_schedules([message])[message.pk]


def drain_seconds(onlyfans_id: str, *, limit: int, interactive: int, bulk: int) -> float:
    """How long an account's ready backlog takes to go out, by the same model."""
    schedule = account_schedule(onlyfans_id, limit=limit, interactive_waiting=interactive)
    if not interactive and not bulk:
        return 0.0
    last = schedule.eta(BULK, bulk - 1) if bulk else schedule.eta(INTERACTIVE, interactive - 1)
    return max((last - timezone.now()).total_seconds(), 0.0)

"""The per-account limiter in Redis: one Lua script checks and takes a slot atomically.

For each OnlyFans account the script keeps the gateway calls of the last window (a sorted set
of Redis-server timestamps, each tagged with its lane) and decides, on the Redis server's clock
(`TIME`), so that any number of consumers on any number of hosts share one schedule:

- at most `limit` calls in any window (`ONLYFANS_RATE_WINDOW_SECONDS`, stretched by
  `ONLYFANS_RATE_GUARD` so that network jitter cannot squeeze one more into the gateway's window);
- at least `ONLYFANS_MIN_GAP_SECONDS` between two calls (stretched the same way);
- bulk calls never above `limit - reserve` in a window and at least `window / (limit - reserve)`
  apart: mass sends are paced evenly and leave `ONLYFANS_INTERACTIVE_RESERVE` slots to replies;
- nothing before a gateway's Retry-After (`push_back`).

The answer says when each lane can go next, so the caller sleeps on a timer instead of polling.
Redis errors raise `LimiterUnavailable`: the caller must then deliver nothing (fail closed).
If Redis lost its data (FLUSHALL, a restart without persistence), the database's record of the
account's last call stands in (`db_last_call_age`): the account waits out one window from that
call. That record holds every call that can have reached the gateway: a call is recorded when it
completes (one call at a time per account: nothing else is claimed while it is in flight), and a
claim lost by a killed consumer counts as a call at its lease's end
(`scheduler._lost_call_recorded`). The loss marker is a third key, set by every `take` and kept
a day: while it exists, an empty call log is only a quiet account whose calls aged out, and
nothing waits for the database's record — a lost claim's call has been in the log since its
grant, and counting it again from the lease's end would hold the account a whole window more.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django_redis import get_redis_connection
from redis.commands.core import Script
from redis.exceptions import RedisError

INTERACTIVE, BULK = "interactive", "bulk"

# KEYS[1]: the account's calls (ZSET, score = µs, member = "<µs>:<i|b>:<id>");
# KEYS[2]: µs until which the gateway asked us to wait (Retry-After);
# KEYS[3]: "Redis knows this account" (set by every take, kept KNOWN_TTL_MS): its absence with an
# empty call log means Redis lost its data.
# ARGV: mode (take | peek | push), lane (i | b), limit, bulk cap, window µs, gap µs, member id,
# push µs, age of the database's last recorded call in µs (-1: none), and an optional clock in
# µs that only the property tests pass (production always reads the server's TIME).
SCRIPT = """
local KNOWN_TTL_MS = 86400000  -- a day: an account idle longer is checked against the database
local now
if ARGV[10] ~= nil and ARGV[10] ~= '' then
  now = tonumber(ARGV[10])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local mode, lane = ARGV[1], ARGV[2]
local limit, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local window, gap = tonumber(ARGV[5]), tonumber(ARGV[6])
local pace = math.ceil(window / cap)
local ttl = math.ceil(window / 1000) + 1000

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now - window + 1))
local pushed = tonumber(redis.call('GET', KEYS[2]) or '0')
local function push_until(t)
  if t > pushed then
    pushed = t
    redis.call('SET', KEYS[2], string.format('%.0f', t), 'PX', math.ceil((t - now) / 1000) + 1000)
  end
end
if mode == 'push' then push_until(now + tonumber(ARGV[8])) end

local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local all, bulk = {}, {}
for i = 1, #entries, 2 do
  local score = tonumber(entries[i + 1])
  all[#all + 1] = score
  if string.find(entries[i], ':b:', 1, true) then
    bulk[#bulk + 1] = score
  end
end
local db_age = tonumber(ARGV[9])
if #all == 0 and db_age >= 0 and db_age < window and redis.call('EXISTS', KEYS[3]) == 0 then
  -- Redis knows neither a call in the window nor the account, but the database recorded a
  -- call: Redis lost its data.
  push_until(now - db_age + window)
end
if mode == 'take' then redis.call('SET', KEYS[3], '1', 'PX', KNOWN_TTL_MS) end

local function next_at(for_lane)
  local t = math.max(now, pushed)
  local n = #all
  if n > 0 then t = math.max(t, all[n] + gap) end
  if n >= limit then t = math.max(t, all[n - limit + 1] + window) end
  if for_lane == 'b' then
    local nb = #bulk
    if nb > 0 then t = math.max(t, bulk[nb] + pace) end
    if nb >= cap then t = math.max(t, bulk[nb - cap + 1] + window) end
  end
  return t
end

local granted = 0
if mode == 'take' and next_at(lane) <= now then
  granted = 1
  redis.call('ZADD', KEYS[1], now, string.format('%.0f', now) .. ':' .. lane .. ':' .. ARGV[7])
  redis.call('PEXPIRE', KEYS[1], ttl)
  all[#all + 1] = now
  if lane == 'b' then bulk[#bulk + 1] = now end
end
local out = {granted, string.format('%.0f', now), string.format('%.0f', next_at('i')),
             string.format('%.0f', next_at('b')), string.format('%.0f', pushed)}
for i = 1, #entries, 2 do
  out[#out + 1] = entries[i]
end
if granted == 1 then
  out[#out + 1] = string.format('%.0f', now) .. ':' .. lane .. ':' .. ARGV[7]
end
return out
"""


class LimiterUnavailable(Exception):
    """Redis could not be reached: deliver nothing."""


@dataclass(frozen=True)
class Params:
    """The numbers the script decides with, for one OnlyFans account."""

    limit: int
    reserve: int
    window: float  # seconds, guard included
    gap: float  # seconds, guard included

    @property
    def bulk_cap(self) -> int:
        """Bulk calls allowed per window: the limit minus the reserve, and never none."""
        return max(1, self.limit - self.reserve)

    @property
    def bulk_pace(self) -> float:
        return self.window / self.bulk_cap


def params_for(limit: int) -> Params:
    guard = 1 + settings.ONLYFANS_RATE_GUARD
    window = settings.ONLYFANS_RATE_WINDOW_SECONDS * guard
    return Params(
        limit=limit,
        reserve=min(settings.ONLYFANS_INTERACTIVE_RESERVE, max(limit - 1, 0)),
        window=window,
        gap=min(settings.ONLYFANS_MIN_GAP_SECONDS * guard, window),
    )


@dataclass(frozen=True)
class Call:
    at: datetime
    lane: str


@dataclass(frozen=True)
class Decision:
    granted: bool
    server_now: datetime  # Redis's clock at the decision
    next_interactive_at: datetime  # the earliest moment each lane can go, after this decision
    next_bulk_at: datetime
    pushed_until: datetime | None  # the gateway's Retry-After, while it runs
    # The script's members for the calls of the current window; parsed only when read (`calls`):
    # the dispatcher's take and push never need them, the ETA model does.
    members: tuple[str | bytes, ...] = ()

    @property
    def calls(self) -> tuple[Call, ...]:
        """The calls of the current window, oldest first (the ETA model's input)."""
        calls = []
        for member in self.members:
            text = member.decode() if isinstance(member, bytes) else str(member)
            at, tag, _ = text.split(":", 2)
            calls.append(Call(at=_dt(at), lane=BULK if tag == "b" else INTERACTIVE))
        return tuple(sorted(calls, key=lambda c: c.at))

    def next_at(self, lane: str) -> datetime:
        return self.next_bulk_at if lane == BULK else self.next_interactive_at

    def wait_seconds(self, lane: str) -> float:
        return max((self.next_at(lane) - self.server_now).total_seconds(), 0.0)


def _keys(onlyfans_id: str) -> list[str]:
    # One hash tag: the keys live on one Redis Cluster slot, as a script's keys must.
    base = f"{settings.TOKEN_BUCKET_KEY_PREFIX}:{{{onlyfans_id}}}"
    return [f"{base}:calls", f"{base}:pushed", f"{base}:known"]


def _dt(micros: str | bytes | int) -> datetime:
    return datetime.fromtimestamp(int(micros) / 1_000_000, tz=timezone.get_current_timezone())


def _us(seconds: float) -> int:
    return max(0, math.ceil(seconds * 1_000_000))


_registered: dict[int, Script] = {}


def run_script(
    *,
    mode: str,
    onlyfans_id: str,
    params: Params,
    lane: str = INTERACTIVE,
    push_seconds: float = 0,
    db_last_call_age: float | None = None,
    now_us: int | None = None,
) -> Decision:
    try:
        client = get_redis_connection("default")
        script = _registered.get(id(client))
        if script is None:
            script = _registered[id(client)] = client.register_script(SCRIPT)
        raw = script(
            keys=_keys(onlyfans_id),
            args=[
                mode,
                "b" if lane == BULK else "i",
                params.limit,
                params.bulk_cap,
                _us(params.window),
                _us(params.gap),
                uuid.uuid4().hex[:8],
                _us(push_seconds),
                -1 if db_last_call_age is None else _us(max(db_last_call_age, 0)),
                "" if now_us is None else now_us,
            ],
        )
    except (RedisError, OSError) as exc:
        raise LimiterUnavailable(f"Redis is unreachable: {exc}") from exc
    granted, now, next_i, next_b, pushed, *members = raw
    server_now = _dt(now)
    pushed_at = _dt(pushed) if int(pushed) > int(now) else None
    return Decision(
        granted=bool(int(granted)),
        server_now=server_now,
        next_interactive_at=_dt(next_i),
        next_bulk_at=_dt(next_b),
        pushed_until=pushed_at,
        members=tuple(members),
    )


def take(
    onlyfans_id: str, *, limit: int, lane: str, db_last_call_age: float | None = None
) -> Decision:
    """Take the account's slot for this lane if it is free now; otherwise say when it will be."""
    return run_script(
        mode="take",
        onlyfans_id=onlyfans_id,
        params=params_for(limit),
        lane=lane,
        db_last_call_age=db_last_call_age,
    )


def peek(onlyfans_id: str, *, limit: int) -> Decision:
    """The account's state and next free moments, taking nothing."""
    return run_script(mode="peek", onlyfans_id=onlyfans_id, params=params_for(limit))


def push_back(onlyfans_id: str, *, limit: int, seconds: float) -> Decision:
    """No call for this account for the next `seconds` (the gateway said 429 Retry-After)."""
    return run_script(
        mode="push",
        onlyfans_id=onlyfans_id,
        params=params_for(limit),
        push_seconds=seconds,
    )


def slot_interval_seconds(limit_per_window: int) -> float:
    """The long-run spacing of an account's calls: the window (guard included) over the limit."""
    return params_for(limit_per_window).window / limit_per_window


def redis_ok() -> bool:
    try:
        return bool(get_redis_connection("default").ping())
    except (RedisError, OSError):
        return False

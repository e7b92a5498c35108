"""The per-account token bucket in Redis: one Lua script checks and takes a slot atomically.

Slots are evenly spaced: one every `window * (1 + guard) / limit` seconds per OnlyFans
account, measured by the Redis server's clock (`TIME`), so any number of consumer processes
on any number of hosts share one schedule and none of their clocks matter. Evenly spaced
slots mean no window of `window` seconds can hold more than `limit` calls.

When no slot is free the answer says when the next one is, so the caller can defer the
message until then instead of polling. Redis errors raise `BucketUnavailable`: the caller
must then deliver nothing (fail closed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django_redis import get_redis_connection
from redis.exceptions import RedisError

# KEYS[1]: the account's key, holding the microsecond timestamp of its next free slot.
# ARGV: mode ("take" | "peek" | "push"), interval in µs, push-until offset in µs, and an
# optional clock in µs that only tests pass (production always reads the server's TIME).
_SCRIPT = """
local now
if ARGV[4] ~= nil and ARGV[4] ~= '' then
  now = tonumber(ARGV[4])  -- an explicit clock, for property tests of this script only
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local mode = ARGV[1]
local interval = tonumber(ARGV[2])
if mode == 'take' then
  if next_free <= now then
    -- fresh: Redis holds nothing for this account (idle, or Redis lost its data)
    local fresh = next_free == 0 and 1 or 0
    next_free = now + interval
    redis.call('SET', KEYS[1], string.format('%.0f', next_free), 'PX', math.ceil(interval / 1000) + 60000)
    return {1, 0, string.format('%.0f', now), string.format('%.0f', next_free), fresh}
  end
  return {0, string.format('%.0f', next_free - now), string.format('%.0f', now), string.format('%.0f', next_free), 0}
elseif mode == 'push' then
  local until_ = now + tonumber(ARGV[3])
  if until_ > next_free then
    next_free = until_
    redis.call('SET', KEYS[1], string.format('%.0f', next_free), 'PX', math.ceil((next_free - now) / 1000) + 60000)
  end
end
return {0, string.format('%.0f', math.max(next_free - now, 0)), string.format('%.0f', now), string.format('%.0f', math.max(next_free, now)), 0}
"""


class BucketUnavailable(Exception):
    """Redis could not be reached: deliver nothing."""


@dataclass(frozen=True)
class SlotDecision:
    granted: bool
    wait_seconds: float  # until the account's next free slot (0 when granted)
    server_now: datetime  # Redis's clock at the decision
    next_free_at: datetime  # the account's next free slot after this decision
    # Granted on an empty key: Redis did not know this account (idle, restarted or flushed),
    # so the caller checks the database's record of the account's last call.
    fresh: bool = False

    @property
    def next_slot_at(self) -> datetime:
        return self.server_now + timedelta(seconds=self.wait_seconds)


def slot_interval_seconds(limit_per_window: int) -> float:
    return (
        settings.ONLYFANS_RATE_WINDOW_SECONDS * (1 + settings.ONLYFANS_RATE_GUARD) / limit_per_window
    )


def _key(onlyfans_account_id: str) -> str:
    return f"{settings.TOKEN_BUCKET_KEY_PREFIX}:bucket:{onlyfans_account_id}"


def _from_micros(micros: str | bytes | int) -> datetime:
    return datetime.fromtimestamp(int(micros) / 1_000_000, tz=timezone.get_current_timezone())


_registered: dict[int, object] = {}


def _run(
    mode: str, onlyfans_account_id: str, limit: int, push_seconds: float = 0, now_us: int | None = None
) -> SlotDecision:
    interval_us = max(1, math.ceil(slot_interval_seconds(limit) * 1_000_000))
    try:
        client = get_redis_connection("default")
        script = _registered.get(id(client))
        if script is None:
            script = _registered[id(client)] = client.register_script(_SCRIPT)
        granted, wait_us, now_us, next_us, fresh = script(
            keys=[_key(onlyfans_account_id)],
            args=[mode, interval_us, math.ceil(push_seconds * 1_000_000), "" if now_us is None else now_us],
        )
    except (RedisError, OSError) as exc:
        raise BucketUnavailable(f"Redis is unreachable: {exc}") from exc
    return SlotDecision(
        granted=bool(int(granted)),
        wait_seconds=int(wait_us) / 1_000_000,
        server_now=_from_micros(now_us),
        next_free_at=_from_micros(next_us),
        fresh=bool(int(fresh)),
    )


def take(onlyfans_account_id: str, *, limit: int) -> SlotDecision:
    """Take the account's slot if it is free now; otherwise say when the next one is."""
    return _run("take", onlyfans_account_id, limit)


def peek(onlyfans_account_id: str, *, limit: int) -> SlotDecision:
    """When the account's next slot is free, taking nothing."""
    return _run("peek", onlyfans_account_id, limit)


def push_back(onlyfans_account_id: str, *, limit: int, seconds: float) -> SlotDecision:
    """No slot for this account for the next `seconds` (the gateway said 429 Retry-After)."""
    return _run("push", onlyfans_account_id, limit, push_seconds=seconds)


def redis_ok() -> bool:
    try:
        return bool(get_redis_connection("default").ping())
    except (RedisError, OSError):
        return False

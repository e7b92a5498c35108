"""Replies during a mass send: one account with 5,000 bulk messages waiting, 50 replies accepted
at random moments; each reply's wait (accepted → gateway) in seconds and in slots, and bulk's
share of the window while replies are idle. Real consumer, Redis, SQS (moto) and HTTP gateway;
time compressed by --scale (0.1: a 6-s window, a 0.3-s gap; figures are also given in real
seconds, divided by the scale). Writes bench/reports/priority_lanes.json.

    .venv/bin/python bench/priority_lanes.py [--scale 0.1] [--replies 50] [--bulk 5000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from _harness import (
    arrivals,
    owner_and_accounts,
    percentile,
    running_consumer,
    setup,
    spread,
    wait_for_deliveries,
    write_report,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--replies", type=int, default=50)
    parser.add_argument("--bulk", type=int, default=5000)
    args = parser.parse_args()
    gateway = setup(scale=args.scale)

    from django.conf import settings

    from onlyfans import limiter
    from onlyfans.models import OutboundMessage
    from onlyfans.services import MessageInput, message_send

    owner, [account] = owner_and_accounts(1)
    OutboundMessage.objects.bulk_create(
        OutboundMessage(
            account=account, recipient_id=f"fan_{i}", content="promo", lane="bulk", status="queued"
        )
        for i in range(args.bulk)
    )
    message_send(
        user=owner, account=account, data=MessageInput("fan_x", "promo", lane="bulk")
    )  # arms the account
    params = limiter.params_for(settings.ONLYFANS_RATE_LIMIT_PER_MINUTE)
    slot = params.window / params.limit

    rng = random.Random(9)
    replies: list[tuple[str, float]] = []
    with running_consumer(concurrency=2):
        time.sleep(params.window * 3)  # bulk alone for three windows first
        idle_until = time.time()
        for i in range(args.replies):
            time.sleep(rng.expovariate(1 / (params.window / 2)))  # two replies a window on average
            outcome = message_send(
                user=owner, account=account, data=MessageInput(f"fan_r{i}", f"reply {i}")
            )
            replies.append((str(outcome.message.pk), time.time()))
        wait_for_deliveries(
            gateway, {key for key, _ in replies}, seconds=params.window * 3, poll=0.2
        )

    arrived = arrivals(gateway)
    waits = [arrived[key] - accepted for key, accepted in replies if key in arrived]
    calls = sorted(at for at, _, _ in gateway.calls)
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    first = calls[0]
    idle_calls = [t for t in calls if t < idle_until]
    idle_windows = (idle_until - first) / params.window
    max_in_window = max(
        sum(1 for t in calls if s <= t < s + params.window / (1 + settings.ONLYFANS_RATE_GUARD))
        for s in calls
    )
    report = {
        "benchmark": "priority_lanes",
        "scale": args.scale,
        "limit": params.limit,
        "reserve": params.reserve,
        "minGapSeconds": settings.ONLYFANS_MIN_GAP_SECONDS,
        "bulkWaiting": args.bulk,
        "replies": len(replies),
        "repliesDelivered": len(waits),
        "replyWaitSeconds": spread(waits),
        "replyWaitRealSeconds": spread(waits, unit=args.scale, digits=2),
        "replyWaitSlots": spread(waits, unit=slot, digits=2),
        # Within the minimum gap (plus 5 % for the consumer's own latency).
        "repliesWithinMinGap": sum(1 for w in waits if w <= params.gap * 1.05),
        "bulkShareWhileIdle": round(len(idle_calls) / idle_windows / params.limit, 3)
        if idle_windows
        else None,
        "bulkShareGoal": round((params.limit - params.reserve) / params.limit, 3),
        "maxCallsInAnyWindow": max_in_window,
        "minGapSecondsSeen": round(min(gaps), 3),
        "bulkGapWhileIdleSeconds": {
            "median": round(
                percentile([b - a for a, b in zip(idle_calls, idle_calls[1:], strict=False)], 0.5),
                3,
            ),
            "max": round(max(b - a for a, b in zip(idle_calls, idle_calls[1:], strict=False)), 3),
            "pace": round(params.bulk_pace, 3),
        },
    }
    write_report("priority_lanes", report)
    return 0 if len(waits) == len(replies) else 1


if __name__ == "__main__":
    sys.exit(main())

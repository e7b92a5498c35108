"""How right the ETA is: a steady backlog of about 100 messages on one account (new ones accepted
as fast as old ones go out), each message's |sent − estimate at acceptance|, and the estimate
read again after a higher-priority arrival (it should move by one slot). Real consumer, Redis,
SQS (moto) and HTTP gateway; the window compressed by --scale (the consumer's own latency is
not: it weighs 1/scale times more than in real time). Writes bench/reports/eta_error.json.

    .venv/bin/python bench/eta_error.py [--scale 0.1] [--backlog 100] [--measured 60]
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--backlog", type=int, default=100)
    parser.add_argument("--measured", type=int, default=60)
    args = parser.parse_args()
    gateway = setup(scale=args.scale)

    from onlyfans import limiter, pacing
    from onlyfans.models import MessageStatus, OutboundMessage
    from onlyfans.services import MessageInput, message_send

    owner, [account] = owner_and_accounts(1)
    params = limiter.params_for(10)
    interval = params.window / params.limit  # the long-run slot interval

    def accept(i: int) -> tuple[str, float]:
        outcome = message_send(
            user=owner, account=account, data=MessageInput(f"fan_{i}", f"m{i}", priority=3)
        )
        return str(outcome.message.pk), outcome.message.estimated_send_time.timestamp()

    for i in range(args.backlog):
        accept(i)
    estimates: dict[str, float] = {}
    moved: list[float] = []
    i = args.backlog
    with running_consumer(concurrency=2):
        while len(estimates) < args.measured:
            waiting = OutboundMessage.objects.filter(status__in=MessageStatus.ready()).count()
            if waiting < args.backlog:
                key, estimate = accept(i)
                estimates[key] = estimate
                i += 1
            else:
                time.sleep(interval / 4)
        # A higher-priority arrival moves a waiting message's estimate by one slot.
        waiting = list(
            OutboundMessage.objects.select_related("account")
            .filter(status=MessageStatus.QUEUED)
            .order_by("-queued_at")[:5]
        )
        for message in waiting:
            before = pacing.message_schedule(message).estimated_send_time
            outcome = message_send(
                user=owner, account=account, data=MessageInput("fan_p", "urgent", priority=10)
            )
            after = pacing.message_schedule(message).estimated_send_time
            moved.append((after - before).total_seconds())
            OutboundMessage.objects.filter(pk=outcome.message.pk).update(
                status=MessageStatus.CANCELLED
            )
        wait_for_deliveries(
            gateway, set(estimates), seconds=args.backlog * interval * 2 + 30, poll=0.5
        )

    arrived = arrivals(gateway)
    errors = [arrived[key] - estimate for key, estimate in estimates.items() if key in arrived]
    absolute = [abs(e) for e in errors]
    report = {
        "benchmark": "eta_error",
        "scale": args.scale,
        "backlog": args.backlog,
        "measured": len(errors),
        "slotIntervalSeconds": round(interval, 3),
        "absErrorSeconds": spread(absolute),
        "absErrorSlots": spread(absolute, unit=interval, quantiles=("median", "p95")),
        "signedErrorSecondsMedian": round(percentile(errors, 0.5), 3),
        "moveAfterHigherPriorityArrivalSlots": {
            "median": round(percentile(moved, 0.5) / interval, 3) if moved else None,
            "samples": len(moved),
        },
    }
    write_report("eta_error", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""SQS calls per delivery, counted with a botocore event hook: one account with 5,000 messages
queued and 100 other accounts that each get one message meanwhile; how long those idle accounts'
messages take; then the idle cost (SQS calls a minute with nothing to do). Real consumer
(--concurrency 4), Redis, SQS (moto) and HTTP gateway; the rate window compressed by --scale.
Writes bench/reports/sqs_calls.json.

    .venv/bin/python bench/sqs_calls.py [--scale 0.1] [--seconds 30] [--idle-seconds 60]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from _harness import SqsCalls, owner_and_accounts, percentile, setup, write_report


def per_delivery(calls: dict[str, int], deliveries: int) -> dict:
    total = sum(calls.values())
    return {
        "deliveries": deliveries,
        "byOperation": calls,
        "receivesPerDelivery": round(calls.get("ReceiveMessage", 0) / deliveries, 3)
        if deliveries
        else None,
        "callsPerDelivery": round(total / deliveries, 3) if deliveries else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--others", type=int, default=100)
    args = parser.parse_args()
    gateway = setup(scale=args.scale)

    from onlyfans.consumer import Consumer
    from onlyfans.models import MessageStatus, OutboundMessage
    from onlyfans.services import MessageInput, message_send

    owner, [busy, *others] = owner_and_accounts(1 + args.others)
    OutboundMessage.objects.bulk_create(
        OutboundMessage(
            account=busy, recipient_id=f"fan_{i}", content="promo", lane="bulk", status="queued"
        )
        for i in range(args.backlog)
    )
    counter = SqsCalls()
    message_send(
        user=owner, account=busy, data=MessageInput("fan_x", "promo", lane="bulk")
    )  # arms the account

    consumer = Consumer(concurrency=4)
    runner = threading.Thread(
        target=consumer.run, kwargs={"seconds": args.seconds, "wait_seconds": 20}
    )
    runner.start()
    time.sleep(2)
    accepted = {}
    for account in others:
        outcome = message_send(user=owner, account=account, data=MessageInput("fan_1", "hello"))
        accepted[str(outcome.message.pk)] = time.time()
        time.sleep(args.seconds / 3 / len(others))
    runner.join()
    busy_calls = counter.snapshot()
    arrivals = {key: at for at, _, key in gateway.calls}
    idle_waits = [arrivals[key] - at for key, at in accepted.items() if key in arrivals]

    # Idle: nothing to deliver (the backlog cancelled); a fresh consumer for --idle-seconds.
    OutboundMessage.objects.filter(status__in=MessageStatus.ready()).update(
        status=MessageStatus.CANCELLED
    )
    Consumer(concurrency=4).run(seconds=5, wait_seconds=1)  # drops the spare wake-ups
    before = sum(counter.snapshot().values())
    Consumer(concurrency=4).run(seconds=args.idle_seconds, wait_seconds=20)
    idle_calls = sum(counter.snapshot().values()) - before

    report = {
        "benchmark": "sqs_calls",
        "scale": args.scale,
        "backlogOnOneAccount": args.backlog,
        "otherAccounts": args.others,
        "runSeconds": args.seconds,
        "consumerThreads": 4,
        **per_delivery(busy_calls, len(gateway.calls)),
        "idleAccountsDelivered": len(idle_waits),
        "idleAccountWaitSeconds": {
            "median": round(percentile(idle_waits, 0.5), 3) if idle_waits else None,
            "p95": round(percentile(idle_waits, 0.95), 3) if idle_waits else None,
            "max": round(max(idle_waits), 3) if idle_waits else None,
        },
        "idleSqsCallsPerMinute": round(idle_calls / args.idle_seconds * 60, 2),
    }
    write_report("sqs_calls", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Deliveries per second of one consumer process (--concurrency 4) against a zero-latency local
gateway, beside the same run's floor: the bare Redis, database and HTTP calls one delivery needs
(one limiter script, the SELECT of the account's next message in lane order, a claim UPDATE, an
attempt INSERT, the final UPDATE, one gateway POST), in a loop on one thread, measured right
before and right after the consumer's run (a shared machine's load drifts: the floor is their
mean). Limits are set out of the way (600 a minute, the window compressed 100×: 30 ms between
two calls on one account, so 50 accounts allow far more than one process delivers). Not 1000×:
the send budget (a grant older than half the limiter's guard is not used) compresses with the
window, and 0.9 ms is less than a loaded 2-core machine's scheduling jitter — grants would
expire unused, which measures the compression, not the consumer (`deferred` counts them).
Writes bench/reports/consumer_throughput.json.

    .venv/bin/python bench/consumer_throughput.py [--accounts 50] [--per-account 40]
        [--scale 0.01] [--threads 4]
"""

from __future__ import annotations

import argparse
import sys
import time

from _harness import owner_and_accounts, setup, write_report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--per-account", type=int, default=40)
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    gateway = setup(scale=args.scale, limit=600)

    import requests
    from django.conf import settings
    from django.utils import timezone

    from onlyfans import limiter
    from onlyfans.consumer import Consumer
    from onlyfans.models import DeliveryAttempt, MessageStatus, OutboundMessage
    from onlyfans.pacing import PICK_ORDER
    from onlyfans.services import MessageInput, message_send

    owner, accounts = owner_and_accounts(args.accounts)
    total = args.accounts * args.per_account
    for account in accounts:
        OutboundMessage.objects.bulk_create(
            OutboundMessage(account=account, recipient_id=f"f{i}", content="x", status="queued")
            for i in range(args.per_account - 1)
        )
        message_send(user=owner, account=account, data=MessageInput("f", "x"))  # arms the account

    # The floor: the same calls, bare, in a loop.
    session = requests.Session()
    url = f"{settings.ONLYFANS_API_BASE_URL}/api/floor/chats/f/messages"
    params = limiter.Params(limit=10**6, reserve=0, window=0.001, gap=0.0)
    floor_account = owner_and_accounts(1)[1][0]

    def floor() -> float:
        OutboundMessage.objects.bulk_create(
            OutboundMessage(
                account=floor_account, recipient_id=f"g{i}", content="x", status="queued"
            )
            for i in range(total)
        )
        waiting = OutboundMessage.objects.filter(account=floor_account, status=MessageStatus.QUEUED)
        floor_started = time.perf_counter()
        for _ in range(total):
            limiter.run_script(mode="take", onlyfans_id="floor", params=params)
            # A delivery must find its message: the account's next one in lane order.
            pk = (
                waiting.filter(lane="interactive")
                .order_by(*PICK_ORDER)
                .values_list("pk", flat=True)
                .first()
            )
            OutboundMessage.objects.filter(pk=pk, status=MessageStatus.QUEUED).update(
                status=MessageStatus.SENDING
            )
            session.post(url, json={"text": "x"}, headers={"Idempotency-Key": str(pk)}, timeout=5)
            DeliveryAttempt.objects.create(
                message_id=pk, number=1, outcome="sent", http_status=200, latency_ms=1
            )
            OutboundMessage.objects.filter(pk=pk).update(
                status=MessageStatus.SENT, sent_at=timezone.now()
            )
        return total / (time.perf_counter() - floor_started)

    floor_before = floor()
    consumer = Consumer(concurrency=args.threads)
    started = time.perf_counter()
    consumer.run(seconds=300, wait_seconds=1, max_messages=args.accounts)
    deferred = consumer.report.deferred
    while (
        OutboundMessage.objects.filter(status=MessageStatus.SENT, account__in=accounts).count()
        < total
    ):
        consumer = Consumer(concurrency=args.threads)
        consumer.run(seconds=5, wait_seconds=1)
        deferred += consumer.report.deferred
        if time.perf_counter() - started > 600:
            break
    elapsed = time.perf_counter() - started
    sent = OutboundMessage.objects.filter(status=MessageStatus.SENT, account__in=accounts).count()
    floor_after = floor()
    floor_rate = (floor_before + floor_after) / 2

    rate = sent / elapsed
    report = {
        "benchmark": "consumer_throughput",
        "accounts": args.accounts,
        "messages": total,
        "sent": sent,
        "gatewayCalls": len(gateway.calls) - 2 * total,
        "consumerThreads": args.threads,
        "windowScale": args.scale,
        # Claims given back without a call: the slot not free yet, or its grant too old to use
        # (the send budget: half the guard's 3 % of the compressed window).
        "deferred": deferred,
        "deliveriesPerSecond": round(rate, 1),
        "floorDeliveriesPerSecond": round(floor_rate, 1),
        "floorBeforeAndAfter": [round(floor_before, 1), round(floor_after, 1)],
        "ratio": round(rate / floor_rate, 3),
    }
    write_report("consumer_throughput", report)
    return 0 if sent == total else 1


if __name__ == "__main__":
    sys.exit(main())

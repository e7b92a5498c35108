"""`POST /api/onlyfans/messages/send` under gunicorn (2 sync workers, 8 concurrent clients)
beside a bare DRF + JWT view that validates the same fields and inserts one row, interleaved in
one run (each client alternates the routes; a route's capacity is the inverse of its mean time
per request). Then `GET /api/onlyfans/messages/status` for three users whose accounts hold 1,000,
10,000 and 100,000 waiting messages, interleaved the same way (each client cycles through the
three users; one client, so that a request's time is its own): flat means the 100,000-row
status costs what the 1,000-row one does. Real Redis, moto's SQS, SQLite. Writes
bench/reports/send_throughput.json.

    .venv/bin/python bench/send_throughput.py [--seconds 20] [--clients 8] [--status-seconds 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time

from _harness import ROOT, owner_and_accounts, percentile, setup, write_report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--status-seconds", type=float, default=20)
    args = parser.parse_args()
    setup(extra_env={"SEND_RATE_LIMIT": "1000000/m"})
    from django.conf import settings
    from rest_framework_simplejwt.tokens import RefreshToken

    from onlyfans.models import OutboundMessage
    from tests.support.servers import free_port

    owner, [account] = owner_and_accounts(1)
    token = str(RefreshToken.for_user(owner).access_token)
    backlogs = (1_000, 10_000, 100_000)
    status_tokens = {}
    for rows in backlogs:
        user, [waiting] = owner_and_accounts(1)
        for start in range(0, rows, 5_000):
            OutboundMessage.objects.bulk_create(
                OutboundMessage(
                    account=waiting,
                    sender=user,
                    recipient_id=f"f{i}",
                    content="x",
                    status="queued",
                    priority=1 + i % 10,
                    lane="bulk" if i % 4 else "interactive",
                )
                for i in range(start, min(start + 5_000, rows))
            )
        status_tokens[rows] = str(RefreshToken.for_user(user).access_token)
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "_bare_settings",
            "PYTHONPATH": f"{ROOT / 'bench'}:{ROOT}",
            "SQS_RATE_LIMITER_QUEUE_URL": settings.SQS_RATE_LIMITER_QUEUE_URL,
            "SQS_RATE_LIMITER_DLQ_URL": settings.SQS_RATE_LIMITER_DLQ_URL,
            "SQS_REQUEST_TIMEOUT": "0.5",
            "DJANGO_DEBUG": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "ONLYFANS_SANDBOX_ENABLED": "false",
        }
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "huntaze.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--access-logfile",
            "/dev/null",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.2)
        body = json.dumps(
            {"recipientId": "fan_1", "content": "Hello! Thanks for subscribing", "priority": 5}
        )
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        routes = {
            "send": ("POST", "/api/onlyfans/messages/send", headers, body, 202),
            "bare": ("POST", "/bare/send", headers, body, 202),
        }
        results, errors = interleave(port, routes, ["bare", "send"], args.clients, args.seconds)
        status_routes = {
            str(rows): (
                "GET",
                "/api/onlyfans/messages/status",
                {"Authorization": f"Bearer {status_tokens[rows]}"},
                None,
                200,
            )
            for rows in backlogs
        }
        # One client: with 8 clients on 2 workers a request's time is mostly its wait behind the
        # others (the 1,000-row status queued behind 100,000-row ones), not its own cost.
        status_results, status_errors = interleave(
            port, status_routes, [str(rows) for rows in backlogs], 1, args.status_seconds
        )
    finally:
        server.terminate()
        server.wait(20)

    def summary(name: str, results=results, errors=errors, seconds=args.seconds) -> dict:
        values = results[name]
        return {
            "requests": len(values),
            "errors": errors[name],
            "perSecond": round(len(values) / seconds, 1),
            "p50Ms": round(percentile(values, 0.5) * 1000, 1) if values else None,
            "p99Ms": round(percentile(values, 0.99) * 1000, 1) if values else None,
            "meanMs": round(sum(values) / len(values) * 1000, 2) if values else None,
        }

    send, bare = summary("send"), summary("bare")
    report = {
        "benchmark": "send_throughput",
        "seconds": args.seconds,
        "clients": args.clients,
        "gunicornWorkers": 2,
        "send": send,
        "bare": bare,
        # Each client alternates the two routes, so both get the same number of requests; what a
        # route can serve is the inverse of its mean time per request.
        "throughputRatio": round(bare["meanMs"] / send["meanMs"], 3) if send["meanMs"] else None,
        "p99Ratio": round(send["p99Ms"] / bare["p99Ms"], 2)
        if send["p99Ms"] and bare["p99Ms"]
        else None,
        # GET /status by the number of the user's waiting messages, interleaved in one run.
        "status": {
            "seconds": args.status_seconds,
            "clients": 1,
            "byWaitingRows": {
                str(rows): summary(str(rows), status_results, status_errors, args.status_seconds)
                for rows in backlogs
            },
        },
    }
    by_rows = report["status"]["byWaitingRows"]
    if by_rows["1000"]["meanMs"] and by_rows["100000"]["meanMs"]:
        # 1.0 is flat: the 100,000-row status takes as long as the 1,000-row one.
        report["status"]["flatness100kVs1k"] = round(
            by_rows["1000"]["meanMs"] / by_rows["100000"]["meanMs"], 3
        )
    write_report("send_throughput", report)
    return 0


def interleave(port: int, routes: dict, order: list[str], clients: int, seconds: float):
    """Each client cycles through `order`, so every route gets the same number of requests."""
    results: dict[str, list[float]] = {name: [] for name in order}
    errors: dict[str, int] = dict.fromkeys(order, 0)
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        turn = index
        while time.monotonic() < stop_at:
            name = order[turn % len(order)]
            turn += 1
            method, path, headers, body, expected = routes[name]
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == expected
            except OSError:
                ok = False
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            with lock:
                if ok:
                    results[name].append(time.perf_counter() - started)
                else:
                    errors[name] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


if __name__ == "__main__":
    sys.exit(main())

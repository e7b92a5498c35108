"""`POST /api/onlyfans/messages/send` under gunicorn (2 sync workers, 8 concurrent clients)
beside a bare DRF + JWT view that validates the same fields and inserts one row, interleaved in
one run (each client alternates the routes; a route's capacity is the inverse of its mean time
per request). Real Redis, moto's SQS, SQLite. Writes bench/reports/send_throughput.json.

    .venv/bin/python bench/send_throughput.py [--seconds 20] [--clients 8]
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
    args = parser.parse_args()
    setup(extra_env={"SEND_RATE_LIMIT": "1000000/m"})
    from django.conf import settings
    from rest_framework_simplejwt.tokens import RefreshToken

    from tests.support.servers import free_port

    owner, [account] = owner_and_accounts(1)
    token = str(RefreshToken.for_user(owner).access_token)
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
        [sys.executable, "-m", "gunicorn", "huntaze.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--access-logfile", "/dev/null", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.2)
        body = json.dumps({"recipientId": "fan_1", "content": "Hello! Thanks for subscribing", "priority": 5})
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        paths = {"send": "/api/onlyfans/messages/send", "bare": "/bare/send"}
        results: dict[str, list[float]] = {"send": [], "bare": []}
        errors: dict[str, int] = {"send": 0, "bare": 0}
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def client(index: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            turn = index
            while time.monotonic() < stop_at:
                name = "send" if turn % 2 else "bare"
                turn += 1
                started = time.perf_counter()
                try:
                    conn.request("POST", paths[name], body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 202
                except OSError:
                    ok = False
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                with lock:
                    if ok:
                        results[name].append(time.perf_counter() - started)
                    else:
                        errors[name] += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(20)

    def summary(name: str) -> dict:
        values = results[name]
        return {
            "requests": len(values),
            "errors": errors[name],
            "perSecond": round(len(values) / args.seconds, 1),
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
        "p99Ratio": round(send["p99Ms"] / bare["p99Ms"], 2) if send["p99Ms"] and bare["p99Ms"] else None,
    }
    write_report("send_throughput", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Send 20 messages to one account through a fresh local stack and measure how far apart the
gateway received them (the sandbox gateway's delivery times). Replies (the interactive lane) go
out the minimum gap apart (3 s, stretched by ONLYFANS_RATE_GUARD: 3.09 s) while the window has
room: ten 3.09 s apart, then the eleventh once the first has left the 61.8-s window, never more
than 10 in any 60 s. Writes bench/reports/delivery_spacing.json.

    .venv/bin/python bench/delivery_spacing.py [--messages 20]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTS = Path(os.environ.get("BENCH_REPORTS_DIR", ROOT / "bench" / "reports"))
sys.path.insert(0, str(ROOT))

from tests.support.servers import free_port  # noqa: E402


def call(method: str, url: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(
        url, method=method, data=json.dumps(body).encode() if body else None
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def parse(moment: str) -> float:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="huntaze-bench-"))
    stack = subprocess.Popen(
        [
            sys.executable,
            "scripts/localstack.py",
            "--port",
            str(port),
            "--redis-port",
            "0",
            "--sqs-port",
            "0",
            "--var-dir",
            str(workdir / "var"),
            "--logs-dir",
            str(workdir / "logs"),
            "--env-file",
            "",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        for line in stack.stdout:
            if line.rstrip().endswith("| ready"):
                break
            if time.monotonic() > deadline or stack.poll() is not None:
                print("the local stack did not start", file=sys.stderr)
                return 1
        base = f"http://127.0.0.1:{port}"
        token = call("POST", f"{base}/api/auth/token/", {"username": "demo", "password": "demo"})[
            "access"
        ]
        accepted = [
            call(
                "POST",
                f"{base}/api/onlyfans/messages/send",
                {"recipientId": f"fan_{i}", "content": f"spacing check {i}"},
                token,
            )
            for i in range(args.messages)
        ]
        ids = [a["messageId"] for a in accepted]
        deadline = time.monotonic() + 60 / 10 * args.messages * 1.5 + 60
        details: dict[str, dict] = {}
        while len(details) < len(ids) and time.monotonic() < deadline:
            for message_id in ids:
                if message_id not in details:
                    detail = call("GET", f"{base}/api/onlyfans/messages/{message_id}", token=token)
                    if detail["status"] in {"sent", "failed", "dead_lettered"}:
                        details[message_id] = detail
            time.sleep(1)
    finally:
        os.killpg(stack.pid, signal.SIGTERM)
        stack.wait(60)

    sent = sorted(parse(d["sentAt"]) for d in details.values() if d["status"] == "sent")
    gaps = [round(b - a, 3) for a, b in zip(sent, sent[1:], strict=False)]
    in_any_minute = max(sum(1 for t in sent if s <= t < s + 60) for s in sent) if sent else 0
    report = {
        "benchmark": "delivery_spacing",
        "messages": args.messages,
        "sent": len(sent),
        "attempts": sum(len(d["attempts"]) for d in details.values()),
        "gapSeconds": {
            "min": min(gaps, default=None),
            "max": max(gaps, default=None),
            "mean": round(sum(gaps) / len(gaps), 3) if gaps else None,
        },
        "maxSentInAny60s": in_any_minute,
        "estimatedVsSentSeconds": [
            round(parse(d["sentAt"]) - parse(a["estimatedSendTime"]), 2)
            for a in accepted
            for d in [details.get(a["messageId"])]
            if d and d["sentAt"]
        ],
        "gaps": gaps,
    }
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "delivery_spacing.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        json.dumps(
            {k: v for k, v in report.items() if k not in {"gaps", "estimatedVsSentSeconds"}},
            indent=2,
        )
    )
    return 0 if len(sent) == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())

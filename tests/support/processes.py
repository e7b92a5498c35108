"""Consumer subprocesses sharing the test's database, Redis, SQS and gateway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    host = quote(db.get("HOST") or "localhost", safe="")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgres://{auth}{host}:{db.get('PORT') or 5432}/{db['NAME']}"


def subprocess_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "huntaze.settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.CACHES["default"]["LOCATION"],
            "SQS_ENDPOINT_URL": settings.SQS_ENDPOINT_URL or "",
            "SQS_RATE_LIMITER_QUEUE_URL": settings.SQS_RATE_LIMITER_QUEUE_URL or "",
            "SQS_RATE_LIMITER_DLQ_URL": settings.SQS_RATE_LIMITER_DLQ_URL or "",
            "ONLYFANS_API_BASE_URL": settings.ONLYFANS_API_BASE_URL,
            "ONLYFANS_API_KEY": settings.ONLYFANS_API_KEY,
            "ONLYFANS_RATE_WINDOW_SECONDS": str(settings.ONLYFANS_RATE_WINDOW_SECONDS),
            "ONLYFANS_RATE_GUARD": str(settings.ONLYFANS_RATE_GUARD),
            "ONLYFANS_MIN_GAP_SECONDS": str(settings.ONLYFANS_MIN_GAP_SECONDS),
            "ONLYFANS_INTERACTIVE_RESERVE": str(settings.ONLYFANS_INTERACTIVE_RESERVE),
            "ONLYFANS_WAKE_GRACE_SECONDS": str(settings.ONLYFANS_WAKE_GRACE_SECONDS),
            "ONLYFANS_CLAIM_LEASE_SECONDS": str(settings.ONLYFANS_CLAIM_LEASE_SECONDS),
            "TOKEN_BUCKET_KEY_PREFIX": settings.TOKEN_BUCKET_KEY_PREFIX,
            "CLOUDWATCH_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
            "LOG_FILE": "",
        }
    )
    env.update(overrides)
    return env


def start_consumer(log_path: Path, *args: str, **env: str) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process by the caller's stop()
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "consume_messages",
            "--wait-seconds",
            "1",
            "--concurrency",
            "2",
            *args,
        ],
        cwd=ROOT,
        env=subprocess_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen, timeout: float = 60) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def descendants(root_pid: int) -> dict[int, int]:
    """Every process below `root_pid`, as pid → process group id (from /proc)."""
    parents: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = (int(fields[1]), int(fields[2]))  # ppid, pgrp
    found: dict[int, int] = {}
    frontier = [root_pid]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, pgrp) in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = pgrp
                frontier.append(pid)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"

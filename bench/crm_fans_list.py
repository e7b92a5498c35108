"""The fans list on 100,000 fans: filtered and ordered, through the selector and the API view.

    .venv/bin/python bench/crm_fans_list.py [--rows 100000] [--runs 20]

Creates a fresh SQLite database (migrated, like `make run`'s), one user with one OnlyFans account
holding N fans (bulk_create) and a second account of 10,000 fans that the scoping must skip,
runs ANALYZE, then for each scenario:

  - times `crm.selectors.fans_list` (the COUNT for the total, then the page) and
    GET /api/crm/fans through Django's test client (auth, query validation, serialization);
  - prints the EXPLAIN QUERY PLAN of the page query and of the count.

Writes bench/reports/crm_fans_list.json (or $BENCH_REPORTS_DIR/crm_fans_list.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from _django_sqlite import configure, timed

ROOT = Path(__file__).resolve().parent.parent
TAGS = ["vip", "whale", "new", "chatty", "tipper", "lapsed", "bundle", "custom"]

SCENARIOS = [
    ("newest fans (default order)", {}),
    (
        "top spenders, active, spent >= 100",
        {"subscriptionStatus": "active", "minSpent": "100", "ordering": "-totalSpent"},
    ),
    ("tag vip, last seen first", {"tag": "vip", "ordering": "-lastSeenAt"}),
    (
        "expiring within 7 days, top spenders",
        {"expiringWithinDays": "7", "ordering": "-totalSpent"},
    ),
    (
        "spend 50-60, oldest subscribers",
        {"minSpent": "50", "maxSpent": "60", "ordering": "subscribedAt"},
    ),
    ("search 'fan1234', top spenders", {"search": "fan1234", "ordering": "-totalSpent"}),
    (
        "active, last seen first, page 200",
        {"subscriptionStatus": "active", "ordering": "-lastSeenAt", "page": "200"},
    ),
]


def fill(rows: int) -> tuple[object, int]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from crm.models import Fan
    from onlyfans.models import OnlyFansAccount

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench")
    account = OnlyFansAccount.objects.create(owner=user, onlyfans_id="bench-1", username="bench")
    other = OnlyFansAccount.objects.create(owner=user, onlyfans_id="bench-2", username="other")
    rng = random.Random(20241126)
    now = datetime.now(UTC)

    def fan(target, n: int) -> Fan:
        subscribed = now - timedelta(minutes=rng.randrange(0, 700 * 24 * 60))
        return Fan(
            account=target,
            onlyfans_user_id=f"u{target.pk}-{n}",
            username=f"fan{n}",
            display_name=f"Fan Number {n}",
            subscription_status="active" if rng.random() < 0.8 else "expired",
            subscribed_at=subscribed if rng.random() < 0.95 else None,
            expires_at=now + timedelta(minutes=rng.randrange(-60 * 24 * 60, 60 * 24 * 60)),
            auto_renew=rng.random() < 0.5,
            subscription_price=Decimal(rng.choice(["4.99", "9.99", "14.99"])),
            total_spent=Decimal(rng.randrange(0, 500_000)) / 100,
            tips=Decimal(rng.randrange(0, 50_000)) / 100,
            last_seen_at=now - timedelta(minutes=rng.randrange(0, 90 * 24 * 60))
            if rng.random() < 0.9
            else None,
            tags=rng.sample(TAGS, rng.randint(0, 3)),
            created_at=now - timedelta(seconds=rng.randrange(0, 365 * 24 * 3600)),
        )

    started = time.perf_counter()
    for target, count in ((account, rows), (other, 10_000)):
        for start in range(0, count, 5_000):
            Fan.objects.bulk_create(
                [fan(target, n) for n in range(start, min(start + 5_000, count))]
            )
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return account, seconds


def plan_of(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return [row[-1] for row in cursor.fetchall()]


def run_scenario(account, name: str, params: dict, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from crm.selectors import fans_list
    from crm.serializers import FanListQuerySerializer

    serializer = FanListQuerySerializer(data={"accountId": account.pk, **params})
    serializer.is_valid(raise_exception=True)
    filters = serializer.validated_data
    # The SQL that fans_list really runs: the COUNT, the page, the page's conversation ids.
    with CaptureQueriesContext(connection) as captured:
        page = fans_list(user=account.owner, filters=filters)
    count_sql, page_sql = (q["sql"] for q in captured.captured_queries if "crm_fan" in q["sql"])
    client = APIClient()
    client.force_authenticate(account.owner)
    query = {"accountId": account.pk, **params}

    def api_call():
        response = client.get("/api/crm/fans", query)
        assert response.status_code == 200, response.content

    result = {
        "name": name,
        "query": params,
        "total": page.total,
        "returned": len(page.results),
        "selector": timed(lambda: fans_list(user=account.owner, filters=filters), runs),
        "api": timed(api_call, runs),
        "pageSql": page_sql,
        "pagePlan": plan_of(page_sql),
        "countPlan": plan_of(count_sql),
    }
    print(f"\n== {name}  {params}")
    print(f"   total {result['total']}, page of {result['returned']}")
    print(
        f"   selector (count + page): median {result['selector']['medianMs']} ms,"
        f" p95 {result['selector']['p95Ms']} ms"
    )
    print(
        f"   GET /api/crm/fans:       median {result['api']['medianMs']} ms,"
        f" p95 {result['api']['p95Ms']} ms"
    )
    print("   EXPLAIN QUERY PLAN (page):  " + " | ".join(result["pagePlan"]))
    print("   EXPLAIN QUERY PLAN (count): " + " | ".join(result["countPlan"]))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="huntaze-bench-fans-") as workdir:
        configure(Path(workdir) / "bench.sqlite3")
        account, fill_seconds = fill(args.rows)
        print(
            f"{args.rows} fans created with bulk_create in {fill_seconds:.1f} s"
            " (+10,000 on another account)"
        )
        scenarios = [run_scenario(account, name, params, args.runs) for name, params in SCENARIOS]

    unindexed = [
        s["name"]
        for s in scenarios
        if any(line.startswith("SCAN crm_fan") for line in s["pagePlan"])
    ]
    report = {
        "benchmark": "crm_fans_list",
        "generatedAt": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "rows": args.rows,
        "otherAccountRows": 10_000,
        "runsPerScenario": args.runs,
        "pageSize": 50,
        "fillSeconds": round(fill_seconds, 2),
        "database": f"SQLite {sqlite3.sqlite_version}",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        # Other work on the machine inflates every timing; the load says how much was running.
        "loadAverage1mBeforeAfter": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "scenarios": scenarios,
        "scenariosScanningTheTable": unindexed,
    }
    reports = Path(os.environ.get("BENCH_REPORTS_DIR", ROOT / "bench" / "reports"))
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / "crm_fans_list.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nReport: {path}")
    if unindexed:
        print(f"Scenarios that scan the fans table: {unindexed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

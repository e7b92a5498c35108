"""Fans CSV import benchmark: our streaming importer vs django-import-export, side by side.

    .venv/bin/python bench/import_fans.py [--rows 100000] [--die-reimport]

Generates a CSV of N fans, then imports it into the same Fan model on SQLite, each contender
in its own process on a fresh copy of a migrated database, measuring wall time, CPU time and
the process's peak resident memory (getrusage ru_maxrss, Django and all included). Writes
bench/reports/import_fans.json. django-import-export comes from the `bench` extra
(`pip install -e '.[bench]'`).

Contenders:
  ours              fans_import_csv on the clean file (all rows new)
  ours-reimport     the same file again on the filled database (all rows unchanged)
  ours-messy        a file with `$1,234.56`, `Mar 3, 2024 9:30 pm`, `;`, BOM, CRLF (all new)
  die               django-import-export 4 ModelResource, default mode
  die-bulk          the same resource with use_bulk=True, batch_size=1000, skip_diff=True
  die-reimport      (--die-reimport) the file again on a database filled with it, in bulk mode
                    with skip_diff=False (with skip_diff=True django-import-export cannot see
                    that a row is unchanged and rewrites all of them); slow, so opt-in

The re-import contenders fill their database untimed with our importer (the stored rows are
the same whoever writes them), then time the second import. `--only die-reimport` runs just
the named contenders and keeps the other results of an existing report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = (
    Path(os.environ.get("BENCH_REPORTS_DIR") or ROOT / "bench" / "reports") / "import_fans.json"
)
HEADER = [
    "User ID",
    "Username",
    "Name",
    "Subscribed On",
    "Expires",
    "Status",
    "Auto-Renew",
    "Price",
    "Total Spent",
    "Tips",
    "Tags",
    "Notes",
    "Last Seen",
]
REIMPORTED_AS = {"ours-reimport": "ours", "die-reimport": "die-bulk-diff"}
TAGS = ["vip", "whale", "new", "chatty", "tipper", "lapsed", "bundle", "custom"]


# --- the file ---------------------------------------------------------------------------------
def generate(path: Path, rows: int, *, messy: bool) -> None:
    """Deterministic fans; the clean file is one that django-import-export's widgets can read."""
    rng = random.Random(20241126)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    delimiter = ";" if messy else ","
    newline = "\r\n" if messy else "\n"
    with path.open("w", encoding="utf-8-sig" if messy else "utf-8", newline="") as file:
        import csv

        writer = csv.writer(file, delimiter=delimiter, lineterminator=newline)
        writer.writerow(HEADER)
        for n in range(1, rows + 1):
            subscribed = start + timedelta(minutes=rng.randrange(0, 900 * 24 * 60))
            expires = subscribed + timedelta(days=30 * rng.randint(1, 12))
            seen = subscribed + timedelta(hours=rng.randrange(0, 5000))
            spent = rng.randrange(0, 500_000) / 100
            tips = rng.randrange(0, 50_000) / 100
            tags = ",".join(rng.sample(TAGS, rng.randint(0, 3)))
            note = rng.choice(
                ["", "", "Prefers custom videos", "Asked about the bundle\nreply Friday"]
            )
            if messy:
                row = [
                    str(1_000_000 + n),
                    f"@fan_{n}",
                    f"Fan Number {n}",
                    subscribed.strftime("%b %-d, %Y %-I:%M %p"),
                    expires.strftime("%d/%m/%Y"),
                    rng.choice(["Active", "Expired"]),
                    rng.choice(["Yes", "No"]),
                    "$9.99",
                    f"${spent:,.2f}",
                    f"{tips:.2f}".replace(".", ","),
                    tags.replace(",", "|"),
                    note,
                    str(int(seen.timestamp())),
                ]
            else:
                row = [
                    str(1_000_000 + n),
                    f"fan_{n}",
                    f"Fan Number {n}",
                    subscribed.strftime("%Y-%m-%d %H:%M:%S"),
                    expires.strftime("%Y-%m-%d %H:%M:%S"),
                    rng.choice(["active", "expired"]),
                    rng.choice(["true", "false"]),
                    "9.99",
                    f"{spent:.2f}",
                    f"{tips:.2f}",
                    tags,
                    note,
                    seen.strftime("%Y-%m-%d %H:%M:%S"),
                ]
            writer.writerow(row)


# --- one contender, in a child process ---------------------------------------------------------
def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(contender: str, csv_path: Path) -> dict:
    import django

    django.setup()
    from crm.models import Fan
    from onlyfans.models import OnlyFansAccount

    account = OnlyFansAccount.objects.get()
    if contender.endswith("-reimport"):
        run_contender("ours", account, csv_path)  # untimed: the database holds the file's fans
    baseline = rss_mb()
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    counts = run_contender(REIMPORTED_AS.get(contender, contender), account, csv_path)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "cpuSeconds": round(cpu_seconds() - cpu_before, 2),
        "rowsPerSecond": round(counts["rows"] / seconds),
        "peakRssMb": round(rss_mb(), 1),
        "rssBeforeImportMb": round(baseline, 1),
        "counts": counts,
        "fansInDb": Fan.objects.filter(account=account).count(),
        "measuredAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadAverage1m": round(os.getloadavg()[0], 2),
    }


def run_contender(contender: str, account, csv_path: Path) -> dict:
    if contender in ("ours", "ours-messy"):
        from crm.imports import fans_import_csv

        with csv_path.open("rb") as file:
            job = fans_import_csv(account=account, file=file, filename=csv_path.name)
        return {
            "rows": job.rows_processed,
            "created": job.created,
            "updated": job.updated,
            "unchanged": job.unchanged,
            "failed": job.failed,
        }
    modes = {"die": (False, True), "die-bulk": (True, False), "die-bulk-diff": (True, True)}
    bulk, diff = modes[contender]
    return run_import_export(account, csv_path, bulk=bulk, diff=diff)


def run_import_export(account, csv_path: Path, *, bulk: bool, diff: bool) -> dict:
    import tablib
    from import_export import fields, resources, widgets

    from crm.models import Fan

    class TagsWidget(widgets.Widget):
        def clean(self, value, row=None, **kwargs):
            return [tag.strip() for tag in (value or "").split(",") if tag.strip()]

        def render(self, value, obj=None, **kwargs):
            return ",".join(value or [])

    def when(column: str, attribute: str) -> fields.Field:
        return fields.Field(
            attribute=attribute,
            column_name=column,
            widget=widgets.DateTimeWidget("%Y-%m-%d %H:%M:%S"),
        )

    def money(column: str, attribute: str) -> fields.Field:
        return fields.Field(attribute=attribute, column_name=column, widget=widgets.DecimalWidget())

    class FanResource(resources.ModelResource):
        onlyfans_user_id = fields.Field(attribute="onlyfans_user_id", column_name="User ID")
        username = fields.Field(attribute="username", column_name="Username")
        display_name = fields.Field(attribute="display_name", column_name="Name")
        subscribed_at = when("Subscribed On", "subscribed_at")
        expires_at = when("Expires", "expires_at")
        subscription_status = fields.Field(attribute="subscription_status", column_name="Status")
        auto_renew = fields.Field(
            attribute="auto_renew", column_name="Auto-Renew", widget=widgets.BooleanWidget()
        )
        subscription_price = money("Price", "subscription_price")
        total_spent = money("Total Spent", "total_spent")
        tips = money("Tips", "tips")
        tags = fields.Field(attribute="tags", column_name="Tags", widget=TagsWidget())
        notes = fields.Field(attribute="notes", column_name="Notes")
        last_seen_at = when("Last Seen", "last_seen_at")

        class Meta:
            model = Fan
            import_id_fields = ("onlyfans_user_id",)
            fields = (
                "onlyfans_user_id",
                "username",
                "display_name",
                "subscribed_at",
                "expires_at",
                "subscription_status",
                "auto_renew",
                "subscription_price",
                "total_spent",
                "tips",
                "tags",
                "notes",
                "last_seen_at",
            )
            skip_unchanged = True
            report_skipped = True
            use_bulk = bulk
            batch_size = 1000
            skip_diff = not diff

        def get_queryset(self):
            return Fan.objects.filter(account=account)

        def init_instance(self, row=None):
            return Fan(account=account)

    dataset = tablib.Dataset().load(csv_path.read_text(encoding="utf-8"), format="csv")
    result = FanResource().import_data(
        dataset, dry_run=False, raise_errors=False, use_transactions=True
    )
    totals = result.totals
    return {
        "rows": result.total_rows,
        "created": totals["new"],
        "updated": totals["update"],
        "unchanged": totals["skip"],
        "failed": totals["error"] + totals["invalid"],
    }


# --- the driver --------------------------------------------------------------------------------
def child_env(db: Path, media: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "huntaze.settings",
            "DJANGO_SECRET_KEY": "bench-only-secret",
            "DATABASE_URL": f"sqlite:///{db}",
            "MEDIA_ROOT": str(media),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def make_template(workdir: Path) -> Path:
    db = workdir / "template.sqlite3"
    env = child_env(db, workdir / "media")
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], env=env, check=True
    )
    setup = (
        "import django; django.setup();"
        "from django.contrib.auth import get_user_model;"
        "from onlyfans.models import OnlyFansAccount;"
        "u = get_user_model().objects.create_user('bench', password='bench');"
        "OnlyFansAccount.objects.create(owner=u, onlyfans_id='bench-1', username='bench')"
    )
    subprocess.run([sys.executable, "-c", setup], env=env, check=True, cwd=ROOT)
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


def run_child(contender: str, template: Path, csv_path: Path, workdir: Path) -> dict:
    db = workdir / f"{contender}.sqlite3"
    shutil.copyfile(template, db)
    env = child_env(db, workdir / "media")
    completed = subprocess.run(
        [sys.executable, __file__, "--child", contender, "--csv", str(csv_path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise SystemExit(f"{contender} failed:\n{completed.stderr[-4000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    db.unlink(missing_ok=True)
    return result


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for package in ("Django", "django-import-export", "tablib"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--die-reimport", action="store_true", help="Also time django-import-export's re-import."
    )
    parser.add_argument("--skip-die", action="store_true", help="Only our importer.")
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument(
        "--only", help="Comma-separated contenders; keep the others' results from --out."
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.csv)))
        return

    contenders = ["ours", "ours-reimport", "ours-messy"]
    if not args.skip_die:
        contenders += ["die", "die-bulk"] + (["die-reimport"] if args.die_reimport else [])
    kept: dict = {}
    if args.only:
        contenders = args.only.split(",")
        previous = json.loads(args.out.read_text()) if args.out.exists() else {}
        if previous.get("rows") == args.rows:
            kept = {
                name: result
                for name, result in previous["results"].items()
                if name not in contenders
            }
    with tempfile.TemporaryDirectory(prefix="huntaze-bench-") as tmp:
        workdir = Path(tmp)
        clean, messy = workdir / "fans.csv", workdir / "fans-messy.csv"
        generate(clean, args.rows, messy=False)
        generate(messy, args.rows, messy=True)
        template = make_template(workdir)
        results = dict(kept)
        for contender in contenders:
            print(f"{contender} …", file=sys.stderr, flush=True)
            results[contender] = run_child(
                contender, template, messy if contender == "ours-messy" else clean, workdir
            )
            print(f"  {json.dumps(results[contender])}", file=sys.stderr, flush=True)
        sizes = {"clean": clean.stat().st_size, "messy": messy.stat().st_size}

    ours = results["ours"]
    report = {
        "benchmark": "fans CSV import",
        "generatedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": args.rows,
        "fileBytes": sizes,
        "database": (
            "SQLite (WAL, synchronous=NORMAL), a fresh copy of a migrated database per contender"
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            # Other work on the machine stretches wall time; cpuSeconds is this process's own.
            "loadAverageAtEnd": [round(load, 2) for load in os.getloadavg()],
        },
        "versions": versions(),
        "memory": "peakRssMb is the whole process's peak resident set (getrusage), Django included",
        "contenders": {
            "ours": "crm.imports.fans_import_csv, all rows new",
            "ours-reimport": "the same file again: all rows unchanged",
            "ours-messy": (
                "$1,234.56, 'Mar 3, 2024 9:30 PM', dd/mm/yyyy, ';', BOM, CRLF; all rows new"
            ),
            "die": "django-import-export ModelResource, default mode (diff, row by row)",
            "die-bulk": "use_bulk=True, batch_size=1000, skip_diff=True",
            "die-reimport": (
                "the same file again, use_bulk=True, skip_diff=False, skip_unchanged=True"
            ),
        },
        "results": results,
        "targets": {
            "oursSecondsAtMost10": ours["seconds"] <= 10,
            "oursPeakRssUnder300Mb": ours["peakRssMb"] < 300,
        },
    }
    report["targets"]["oursCpuSecondsAtMost10"] = ours["cpuSeconds"] <= 10
    if "die" in results:

        def ratio(die: str, mine: str, key: str) -> float:
            return round(results[die][key] / results[mine][key], 1)

        report["speedup"] = {
            "vsDieDefault": ratio("die", "ours", "seconds"),
            "vsDieBulk": ratio("die-bulk", "ours", "seconds"),
            "cpuVsDieDefault": ratio("die", "ours", "cpuSeconds"),
            "cpuVsDieBulk": ratio("die-bulk", "ours", "cpuSeconds"),
        }
        fastest = min(results["die"]["seconds"], results["die-bulk"]["seconds"])
        report["targets"]["atLeast10xFasterThanDie"] = fastest / ours["seconds"] >= 10
        if "die-reimport" in results:
            report["speedup"]["reimportVsDie"] = ratio("die-reimport", "ours-reimport", "seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""The full version of every chaos scenario: 5 accounts × 50 messages, 30- and 60-s outages,
15 consumer kills, on real components (tests/chaos/harness.py). Writes bench/reports/chaos.json
and prints the README's table.

    .venv/bin/python bench/chaos.py [--scale full|short] [--only NAME ...]

With --only, the scenarios' rows replace theirs in the last report of the same scale.

A scenario's `ok` is the checker's verdict by the gateway's own arrival log; `knownFailure`
says what the pipeline on main is known to get wrong there (the xfail reason of the short test).
Exits 0 even when scenarios fail: this is a measurement, `make test` is the gate.
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
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chaos import runner  # noqa: E402
from tests.chaos.scenarios import FULL, SCENARIOS, SHORT  # noqa: E402

REPORTS = Path(os.environ.get("BENCH_REPORTS_DIR", ROOT / "bench" / "reports"))


def table(rows: list[dict]) -> str:
    lines = [
        (
            "| scenario | messages | faults injected | lost | duplicates | window violations "
            "| recovery (s) | verdict |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['scenario']} | | | | | | | harness error |")
            continue
        recovery = "–" if r["recoverySeconds"] is None else f"{r['recoverySeconds']:.1f}"
        passed = (
            r["ok"] and r["completed"] and not r.get("apiFindings") and not r.get("timingFindings")
        )
        verdict = "pass" if passed else ("known failure" if r.get("knownFailure") else "FAIL")
        lines.append(
            f"| {r['scenario']} | {r['messages']} | {r['faultsInjected']} | {r['lost']} "
            f"| {r['duplicates']} | {r['windowViolations']} | {recovery} | {verdict} |"
        )
    return "\n".join(lines)


def _commit() -> str:
    """The checkout's commit, `-dirty` when it has uncommitted changes: each row says what ran."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short=7", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _interrupt(signum: int, _frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so that the harness stops its processes and its cluster.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", choices=("full", "short"), default="full")
    parser.add_argument(
        "--only", nargs="*", choices=sorted(SCENARIOS), help="run these scenarios only"
    )
    args = parser.parse_args(argv)
    scale = FULL if args.scale == "full" else SHORT
    rows = []
    commit = _commit()
    started = time.monotonic()
    for name in args.only or SCENARIOS:
        print(f"== {name} ({scale.name})", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"chaos-{name}-") as workdir:
            try:
                row = runner.run(name, scale, Path(workdir)).row()
            except Exception as exc:  # noqa: BLE001 - a harness failure is reported, the other scenarios still run
                row = {
                    "scenario": name,
                    "scale": scale.name,
                    "error": f"{type(exc).__name__}: {exc}",
                }
        row["knownFailure"] = SCENARIOS[name].known_failure
        row["commit"] = commit
        print(json.dumps(row), flush=True)
        rows.append(row)
    path = REPORTS / "chaos.json"
    if args.only and path.exists():
        # Re-running some scenarios updates their rows in the last report of the same scale.
        previous = json.loads(path.read_text())
        if previous.get("scale") == scale.name:
            fresh = {r["scenario"]: r for r in rows}
            rows = [fresh.pop(r["scenario"], r) for r in previous["scenarios"]] + list(
                fresh.values()
            )
    report = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": scale.name,
        "accounts": 5,
        "perAccount": scale.per_account,
        "seconds": round(time.monotonic() - started, 1),
        "scenarios": rows,
    }
    REPORTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The verdict of a chaos run: a pure function of the gateway's arrival log and the database's final
rows (no clock, no I/O), so that each rule can be proven on hand-made logs.

The gateway's log is the witness: it is written at arrival, by the gateway's clock, for every call
(replays, refusals and calls whose answer never came back included), so the database cannot hide
a call it never recorded.

Rules (a scenario passes only when none is broken):

- **lost**: an accepted message missing from the database, not final, `sent` in the database with
  no delivery in the log, or `failed`/`dead_lettered` without an injected permanent fault whose
  reason its `last_error` carries;
- **duplicates**: more than one `delivered` arrival for one key;
- **window violations**: an account's window (`window` seconds, any start) holding more than
  `limit` arrivals, every arrival counted; and two arrivals closer than `min_gap`;
- **healthy dead-lettered**: a message `dead_lettered` (or in the DLQ) without an injected fault;
- **recovery**: for each fault, the time from its end to the next delivery, failing when work was
  left and no delivery came within `recovery_bound`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

DELIVERED = "delivered"
FINAL_FAILURES = ("failed", "dead_lettered")


@dataclass(frozen=True)
class Fault:
    name: str
    started_at: float
    ended_at: float


@dataclass
class Verdict:
    messages: int = 0
    arrivals: int = 0
    lost: list[dict] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    window_violations: list[dict] = field(default_factory=list)
    gap_violations: list[dict] = field(default_factory=list)
    healthy_dead_lettered: list[str] = field(default_factory=list)
    recovery: list[dict] = field(default_factory=list)  # one per fault
    slow_recoveries: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.duplicates
            or self.window_violations
            or self.gap_violations
            or self.healthy_dead_lettered
            or self.slow_recoveries
        )

    @property
    def max_recovery_seconds(self) -> float | None:
        values = [r["seconds"] for r in self.recovery if r["seconds"] is not None]
        return max(values) if values else None

    def summary(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "arrivals": self.arrivals,
            "lost": len(self.lost),
            "duplicates": len(self.duplicates),
            "windowViolations": len(self.window_violations) + len(self.gap_violations),
            "healthyDeadLettered": len(self.healthy_dead_lettered),
            "recoverySeconds": self.max_recovery_seconds,
            "slowRecoveries": len(self.slow_recoveries),
            "ok": self.ok,
        }

    def explain(self, limit: int = 5) -> str:
        """The first few findings of each rule, for an assertion message."""
        parts = []
        for name, items in asdict(self).items():
            if isinstance(items, list) and items and name != "recovery":
                parts.append(f"{name} ({len(items)}): {items[:limit]}")
        return "; ".join(parts) or "ok"


def check(
    arrivals: Iterable[Mapping[str, Any]],
    rows: Iterable[Mapping[str, Any]],
    *,
    limit: int,
    window: float,
    accepted: Iterable[str] | None = None,
    min_gap: float = 0.0,
    expected_failures: Mapping[str, str] | None = None,
    dlq_ids: Iterable[str] = (),
    faults: Iterable[Fault] = (),
    recovery_bound: float = 30.0,
) -> Verdict:
    """`rows`: `{"id", "account", "status", "last_error"}` per message in the database;
    `accepted`: the ids the API answered 202 for (default: every row); `expected_failures`:
    id → a text its `last_error` must contain (an injected permanent fault)."""
    # The gateway's `kill` lines note a consumer it killed; they are not calls.
    arrivals = sorted((a for a in arrivals if a["outcome"] != "kill"), key=lambda a: a["t"])
    rows_by_id = {str(r["id"]): r for r in rows}
    accepted_ids = [str(i) for i in (accepted if accepted is not None else rows_by_id)]
    expected = {str(k): v for k, v in (expected_failures or {}).items()}
    verdict = Verdict(messages=len(accepted_ids), arrivals=len(arrivals))

    deliveries: dict[str, list[float]] = defaultdict(list)
    for arrival in arrivals:
        if arrival["outcome"] == DELIVERED:
            deliveries[arrival["key"]].append(arrival["t"])

    for message_id in accepted_ids:
        problem = _lost(
            rows_by_id.get(message_id), bool(deliveries.get(message_id)), expected.get(message_id)
        )
        if problem:
            verdict.lost.append({"id": message_id, "why": problem})

    for key, times in deliveries.items():
        if len(times) > 1:
            verdict.duplicates.append({"id": key, "deliveries": len(times), "at": times})

    verdict.window_violations, verdict.gap_violations = _pace(arrivals, limit, window, min_gap)

    dead = {i for i, r in rows_by_id.items() if r["status"] == "dead_lettered"} | {
        str(i) for i in dlq_ids
    }
    verdict.healthy_dead_lettered = sorted(dead - set(expected))

    delivered_times = [a["t"] for a in arrivals if a["outcome"] == DELIVERED]
    for fault in faults:
        verdict.recovery.append(_recovery(fault, arrivals, delivered_times, accepted_ids))
    verdict.slow_recoveries = [
        r
        for r in verdict.recovery
        if r["workLeft"] and (r["seconds"] is None or r["seconds"] > recovery_bound)
    ]
    return verdict


def _lost(row: Mapping[str, Any] | None, delivered: bool, reason: str | None) -> str:
    if row is None:
        return "accepted but not in the database"
    status = row["status"]
    if status == "sent":
        return "" if delivered else "sent in the database, never delivered by the gateway"
    if status in FINAL_FAILURES:
        if reason is None:
            return (
                f"{status} without an injected permanent fault: {row.get('last_error', '')[:200]}"
            )
        if reason not in (row.get("last_error") or ""):
            return (
                f"{status} without the injected reason {reason!r}: "
                f"{row.get('last_error', '')[:200]}"
            )
        return ""
    return f"not final: {status}"


def _pace(arrivals: list[Mapping[str, Any]], limit: int, window: float, min_gap: float):
    by_account: dict[str, list[float]] = defaultdict(list)
    for arrival in arrivals:
        by_account[arrival["account"]].append(arrival["t"])
    windows, gaps = [], []
    for account, times in by_account.items():
        end = 0
        reported_until = -1
        for start, t in enumerate(times):
            # Every window that starts at an arrival: [t, t + window). The fullest window
            # always starts at an arrival, so these are all the windows there are.
            end = max(end, start)
            while end < len(times) and times[end] < t + window:
                end += 1
            count = end - start
            if count > limit and start > reported_until:
                windows.append({"account": account, "from": t, "calls": count, "limit": limit})
                reported_until = end - 1  # one finding per run of overlapping windows
            if start and t - times[start - 1] < min_gap:
                gaps.append(
                    {
                        "account": account,
                        "at": t,
                        "gap": round(t - times[start - 1], 4),
                        "minGap": min_gap,
                    }
                )
    return windows, gaps


def _recovery(
    fault: Fault, arrivals, delivered_times: list[float], accepted_ids: list[str]
) -> dict:
    done_before = {
        a["key"] for a in arrivals if a["outcome"] == DELIVERED and a["t"] <= fault.ended_at
    }
    work_left = any(i not in done_before for i in accepted_ids)
    after = next((t for t in delivered_times if t > fault.ended_at), None)
    return {
        "fault": fault.name,
        "seconds": None if after is None else round(after - fault.ended_at, 3),
        "workLeft": work_left,
    }

"""The checker on hand-made logs: a clean run passes, and each rule fails on a log that breaks
it."""

from __future__ import annotations

import pytest

from tests.chaos.checker import Fault, check

pytestmark = [pytest.mark.chaos]

LIMIT, WINDOW = 3, 6.0


def arrival(t: float, key: str, outcome: str = "delivered", account: str = "a1") -> dict:
    return {"t": t, "key": key, "account": account, "outcome": outcome}


def row(key: str, status: str = "sent", account: str = "a1", last_error: str = "") -> dict:
    return {"id": key, "account": account, "status": status, "last_error": last_error}


def clean_run() -> tuple[list[dict], list[dict]]:
    arrivals = [arrival(2.0 * i, f"m{i}") for i in range(6)]  # 3 per 6 s, exactly the limit
    return arrivals, [row(f"m{i}") for i in range(6)]


def test_a_clean_run_passes():
    arrivals, rows = clean_run()
    verdict = check(arrivals, rows, limit=LIMIT, window=WINDOW, min_gap=2.0)
    assert verdict.ok, verdict.explain()
    assert verdict.summary()["lost"] == 0 and verdict.messages == 6


@pytest.mark.parametrize(
    ("status", "delivered", "why"),
    [
        ("queued", True, "not final: queued"),
        ("sending", True, "not final: sending"),
        ("sent", False, "never delivered"),
        ("failed", True, "without an injected permanent fault"),
    ],
)
def test_lost(status, delivered, why):
    arrivals, rows = clean_run()
    rows[5] = row("m5", status)
    if not delivered:
        arrivals = arrivals[:5]
    verdict = check(arrivals, rows, limit=LIMIT, window=WINDOW)
    assert [x["id"] for x in verdict.lost] == ["m5"] and why in verdict.lost[0]["why"]
    assert not verdict.ok


def test_an_accepted_message_missing_from_the_database_is_lost():
    arrivals, rows = clean_run()
    verdict = check(
        arrivals, rows[:5], limit=LIMIT, window=WINDOW, accepted=[f"m{i}" for i in range(6)]
    )
    assert verdict.lost == [{"id": "m5", "why": "accepted but not in the database"}]


def test_a_permanent_failure_is_not_lost_only_with_the_injected_reason():
    arrivals, rows = clean_run()
    rows[5] = row("m5", "failed", last_error="HTTP 400: injected 400")
    assert check(
        arrivals, rows, limit=LIMIT, window=WINDOW, expected_failures={"m5": "injected 400"}
    ).ok
    wrong = check(arrivals, rows, limit=LIMIT, window=WINDOW, expected_failures={"m5": "HTTP 403"})
    assert "without the injected reason" in wrong.lost[0]["why"]


def test_two_deliveries_of_one_key_are_a_duplicate_but_a_replay_is_not():
    arrivals, rows = clean_run()
    replayed = [*arrivals, arrival(20.0, "m5", "replay")]
    assert check(replayed, rows, limit=LIMIT, window=WINDOW).ok
    doubled = [*arrivals, arrival(20.0, "m5")]
    verdict = check(doubled, rows, limit=LIMIT, window=WINDOW)
    assert verdict.duplicates == [{"id": "m5", "deliveries": 2, "at": [10.0, 20.0]}]


def test_a_window_over_the_limit_counts_every_arrival_replays_and_refusals_included():
    arrivals, rows = clean_run()
    # A 429 and a replay squeezed into the first window: 4 calls within 6 s.
    crowded = [*arrivals, arrival(0.5, "m0", "status_429"), arrival(1.0, "m1", "replay")]
    verdict = check(crowded, rows, limit=LIMIT, window=WINDOW)
    assert verdict.window_violations and verdict.window_violations[0]["calls"] > LIMIT
    # The same calls on another account break nothing.
    spread = [*arrivals, arrival(0.5, "m0", "status_429", "a2"), arrival(1.0, "m1", "replay", "a2")]
    assert check(spread, rows, limit=LIMIT, window=WINDOW).window_violations == []


def test_the_window_is_half_open_and_slides_over_any_start():
    rows = [row(f"m{i}") for i in range(4)]
    # 4 calls in 6.0 s exactly: [0, 6) holds 3, [2, 8) holds 3 — fine.
    assert check([arrival(2.0 * i, f"m{i}") for i in range(4)], rows, limit=LIMIT, window=WINDOW).ok
    # Shift the last one 1 ms earlier: [0, 6) now holds 4.
    times = [0.0, 2.0, 4.0, 5.999]
    verdict = check(
        [arrival(t, f"m{i}") for i, t in enumerate(times)], rows, limit=LIMIT, window=WINDOW
    )
    assert len(verdict.window_violations) == 1


def test_a_gap_under_the_minimum_is_a_violation():
    arrivals, rows = clean_run()
    assert check(arrivals, rows, limit=LIMIT, window=WINDOW, min_gap=2.0).ok
    verdict = check(arrivals, rows, limit=LIMIT, window=WINDOW, min_gap=3.0)
    assert len(verdict.gap_violations) == 5 and not verdict.ok


def test_a_healthy_message_in_the_dlq_fails_the_run():
    arrivals, rows = clean_run()
    rows[2] = row(
        "m2", "dead_lettered", last_error="HTTP 503: injected 503 (gave up after 5 attempts)"
    )
    verdict = check(arrivals, rows, limit=LIMIT, window=WINDOW)
    assert verdict.healthy_dead_lettered == ["m2"] and not verdict.ok
    # In SQS' DLQ while the row says sent: still a healthy message dead-lettered.
    arrivals, rows = clean_run()
    assert check(
        arrivals, rows, limit=LIMIT, window=WINDOW, dlq_ids=["m3"]
    ).healthy_dead_lettered == ["m3"]


def test_recovery_is_the_time_to_the_first_delivery_after_the_fault():
    arrivals, rows = clean_run()  # deliveries at 0, 2, 4, 6, 8, 10
    fault = Fault("redis outage", started_at=1.0, ended_at=5.0)
    verdict = check(arrivals, rows, limit=LIMIT, window=WINDOW, faults=[fault], recovery_bound=1.5)
    assert verdict.recovery == [{"fault": "redis outage", "seconds": 1.0, "workLeft": True}]
    assert verdict.ok
    late = check(arrivals, rows, limit=LIMIT, window=WINDOW, faults=[fault], recovery_bound=0.5)
    assert late.slow_recoveries and not late.ok


def test_no_delivery_after_a_fault_with_work_left_is_a_failed_recovery():
    arrivals, rows = clean_run()
    fault = Fault("postgres restart", started_at=3.0, ended_at=5.0)
    stuck = [a for a in arrivals if a["t"] < 5.0]
    rows = [row(a["key"]) for a in stuck] + [row(f"m{i}", "queued") for i in range(3, 6)]
    verdict = check(stuck, rows, limit=LIMIT, window=WINDOW, faults=[fault])
    assert verdict.slow_recoveries == [
        {"fault": "postgres restart", "seconds": None, "workLeft": True}
    ]
    # Nothing left to deliver after the fault: no recovery to wait for.
    done = check(
        arrivals, clean_run()[1], limit=LIMIT, window=WINDOW, faults=[Fault("x", 11.0, 12.0)]
    )
    assert done.ok and done.recovery[0]["workLeft"] is False

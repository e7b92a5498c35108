"""The API's rules during a fault, on hand-made calls: which calls count as made while the database
was down or while SQS was black-holed, and the findings each rule reports."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.chaos import runner
from tests.chaos.harness import SQS_REQUEST_TIMEOUT, ApiCall

pytestmark = [pytest.mark.chaos]


def call(started: float, seconds: float, status: int | None) -> ApiCall:
    return ApiCall(at=started + seconds, status=status, seconds=seconds, ids=[])


def summary(calls, *, down=None, sqs=None) -> dict:
    stack = SimpleNamespace(api_calls=calls, down_window=down, sqs_window=sqs)
    return runner.api_summary(stack)  # type: ignore[arg-type]


def test_only_the_calls_made_inside_the_database_stop_count_as_made_while_it_was_down():
    calls = [
        call(5.0, 0.1, 202),  # before the stop
        call(10.5, 0.2, 503),
        call(19.0, 2.0, 202),  # began inside the stop, answered after the restart
        call(25.0, 0.1, 202),  # after
    ]
    api = summary(calls, down=(10.0, 20.0))
    assert api["whileDatabaseDown"] == ["503"]
    assert runner.api_findings("pg_outage", api) == ""

    api = summary([*calls, call(12.0, 0.3, 202)], down=(10.0, 20.0))
    assert api["whileDatabaseDown"] == ["202", "503"]
    assert "not only 503" in runner.api_findings("pg_outage", api)


def test_a_send_that_began_inside_the_black_hole_counts_whenever_it_was_answered():
    slow = SQS_REQUEST_TIMEOUT + 0.5
    calls = [call(1.0, 3.0, 202), call(10.5, 0.3, 202), call(19.5, slow, 202)]
    api = summary(calls, sqs=(10.0, 20.0))
    assert api["whileSqsDown"] == {"statuses": {"202": 2}, "p99Seconds202": slow}
    assert runner.api_findings("sqs_blackhole", api) == ""
    assert "over 2.1 s" in runner.timing_findings("sqs_blackhole", api)


def test_the_black_hole_timing_rule_holds_within_the_sqs_bound_plus_100_ms():
    calls = [call(10.5 + i, SQS_REQUEST_TIMEOUT + 0.1, 202) for i in range(5)]
    api = summary(calls, sqs=(10.0, 20.0))
    assert runner.timing_findings("sqs_blackhole", api) == ""
    # A scenario without a black hole has no timing rule; one whose sends all failed breaks it.
    assert runner.timing_findings("pg_outage", summary(calls)) == ""
    failed = summary([call(11.0, 0.1, None)], sqs=(10.0, 20.0))
    assert "not only 202" in runner.api_findings("sqs_blackhole", failed)
    assert "None s" in runner.timing_findings("sqs_blackhole", failed)

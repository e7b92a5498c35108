"""One scenario, start to verdict: used by the short tests and by bench/chaos.py alike."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.chaos.checker import Verdict
from tests.chaos.harness import SQS_REQUEST_TIMEOUT, ApiCall, ChaosStack
from tests.chaos.scenarios import SCENARIOS, Scale, config_for, injected


@dataclass
class Outcome:
    name: str
    scale: str
    verdict: Verdict
    completed: bool  # every message final before the drain timeout
    faults_injected: int
    seconds: float
    api: dict[str, Any]
    diagnostics: str
    dlq_depth: int | None = None  # SQS' own count of the DLQ at the end

    def row(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "scale": self.scale,
            "completed": self.completed,
            "faultsInjected": self.faults_injected,
            "seconds": round(self.seconds, 1),
            **self.verdict.summary(),
            "dlqDepth": self.dlq_depth,
            "api": self.api,
            "apiFindings": api_findings(self.name, self.api),
            "timingFindings": timing_findings(self.name, self.api),
            "findings": self.verdict.explain(),
        }


def api_findings(name: str, api: dict[str, Any]) -> str:
    """The rules for the API's answers during a fault; empty when they hold."""
    if name == "pg_outage" and api.get("whileDatabaseDown") != ["503"]:
        return (
            f"while the database was down the API answered {api.get('whileDatabaseDown')},"
            " not only 503"
        )
    if name == "sqs_blackhole" and api.get("statuses") != {"202": api.get("calls")}:
        return f"while SQS was black-holed the API answered {api.get('statuses')}, not only 202"
    return ""


def timing_findings(name: str, api: dict[str, Any]) -> str:
    """The timing rule: while SQS is black-holed, 202 within SQS_REQUEST_TIMEOUT + 100 ms
    (p99). A measurement, so bench/chaos.py's verdict only: no test asserts a timing."""
    bound = SQS_REQUEST_TIMEOUT + 0.1
    p99 = (api.get("whileSqsDown") or {}).get("p99Seconds202")
    if name == "sqs_blackhole" and (p99 is None or p99 > bound):
        return f"while SQS was black-holed the API's p99 to a 202 was {p99} s, over {bound:g} s"
    return ""


def _p99(seconds: list[float]) -> float | None:
    if not seconds:
        return None
    ordered = sorted(seconds)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3)


def _statuses(calls: list[ApiCall]) -> dict[str, int]:
    return dict(Counter(str(call.status) for call in calls))


def api_summary(stack: ChaosStack) -> dict[str, Any]:
    calls = stack.api_calls
    summary: dict[str, Any] = {
        "calls": len(calls),
        "statuses": _statuses(calls),
        "p99Seconds202": _p99([c.seconds for c in calls if c.status == 202]),
    }
    # `at` is a call's end: a call was made while the database was down when it began and ended
    # inside the stop; it met the black hole when it began inside it.
    if stack.down_window is not None:
        start, end = stack.down_window
        summary["whileDatabaseDown"] = sorted(
            {str(c.status) for c in calls if c.at - c.seconds >= start and c.at <= end}
        )
    if stack.sqs_window is not None:
        start, end = stack.sqs_window
        sqs_down = [c for c in calls if start <= c.at - c.seconds <= end]
        summary["whileSqsDown"] = {
            "statuses": _statuses(sqs_down),
            "p99Seconds202": _p99([c.seconds for c in sqs_down if c.status == 202]),
        }
    return summary


def run(name: str, scale: Scale, workdir: Path, **config: Any) -> Outcome:
    scenario = SCENARIOS[name]
    started = time.monotonic()
    with ChaosStack(config_for(scenario, scale, **config), workdir) as stack:
        scenario.run(stack, scale)
        stack.gateway.clear()
        stack.gateway.dedupe(True)
        expected = scenario.expected_failures(stack) if scenario.expected_failures else None
        verdict = stack.finish(scale.drain_timeout, expected_failures=expected)
        return Outcome(
            name=name,
            scale=scale.name,
            verdict=verdict,
            completed=stack.completed,
            faults_injected=injected(stack),
            seconds=time.monotonic() - started,
            api=api_summary(stack),
            diagnostics=stack.diagnostics(),
            dlq_depth=stack.dlq_depth(),
        )

"""One scenario, start to verdict: used by the short tests and by bench/chaos.py alike."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.chaos.checker import Verdict
from tests.chaos.harness import ChaosStack
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
            "findings": self.verdict.explain(),
        }


def api_findings(name: str, api: dict[str, Any]) -> str:
    """Issue 11's rules for the API during a fault; empty when they hold."""
    if name == "pg_outage" and api.get("whileDatabaseDown") != ["503"]:
        return (
            f"while the database was down the API answered {api.get('whileDatabaseDown')},"
            " not only 503"
        )
    if name == "sqs_blackhole" and api.get("statuses") != {"202": api.get("calls")}:
        return f"while SQS was black-holed the API answered {api.get('statuses')}, not only 202"
    return ""


def api_summary(stack: ChaosStack) -> dict[str, Any]:
    calls = stack.api_calls
    latencies = sorted(c.seconds for c in calls if c.status == 202)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None
    statuses: dict[str, int] = {}
    for call in calls:
        statuses[str(call.status)] = statuses.get(str(call.status), 0) + 1
    summary: dict[str, Any] = {
        "calls": len(calls),
        "statuses": statuses,
        "p99Seconds202": None if p99 is None else round(p99, 3),
    }
    window = getattr(stack, "down_window", None)
    if window is not None:
        during = [c for c in calls if c.at - c.seconds >= window[0] and c.at <= window[1]]
        summary["whileDatabaseDown"] = sorted({str(c.status) for c in during})
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

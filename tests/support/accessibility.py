"""Accessibility checks for the page tests: axe-core (bundled with axe-playwright-python) run on
a Playwright page."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page, one readable line each."""
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]

"""Waiting on a condition, not on the clock."""

from __future__ import annotations

import time

import pytest


def wait_for(condition, *, timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll `condition()` until it holds; fail the test, naming `what`, after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(interval)

"""The harness cleans up even when it is killed: the throwaway PostgreSQL cluster (a daemon that no
death signal reaches) is stopped and deleted by its watchdog."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.chaos.stack import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

KILLED_HARNESS = """
import os, signal
from tests.chaos.stack import Postgres
pg = Postgres()
pg.start()
pg.start_watchdog()
print(pg.dir, pg.port, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def postmaster_running(directory: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if directory.encode() in cmdline.read_bytes() and b"postgres" in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False


def test_a_sigkilled_harness_leaves_no_postgres_behind():
    result = subprocess.run(
        [sys.executable, "-c", KILLED_HARNESS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == -9, result.stderr
    directory = result.stdout.split()[0]
    deadline = time.monotonic() + 30
    while (
        Path(directory).exists() or postmaster_running(directory)
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(directory).exists() and not postmaster_running(directory)

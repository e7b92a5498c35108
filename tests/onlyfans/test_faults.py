"""The consumers' kill point for the chaos harness: inert unless asked, and then exactly one
SIGKILL per request, at the named point only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

CALL = "from onlyfans import faults; faults.point('after_requeue'); print('alive')"


def _run(env_file: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ONLYFANS_FAULT_KILL_FILE"}
    if env_file is not None:
        env["ONLYFANS_FAULT_KILL_FILE"] = env_file
    return subprocess.run([sys.executable, "-c", CALL], env=env, capture_output=True, text=True, timeout=60)


def test_it_does_nothing_unless_asked(tmp_path):
    assert _run(None).stdout.strip() == "alive"
    assert _run(str(tmp_path / "absent")).stdout.strip() == "alive"


def test_it_kills_the_process_at_the_named_point_once(tmp_path):
    kill_file = tmp_path / "kill"
    kill_file.write_text("after_requeue")
    first = _run(str(kill_file))
    assert first.returncode == -signal.SIGKILL
    assert not kill_file.exists()
    assert _run(str(kill_file)).stdout.strip() == "alive"  # one kill per request


def test_another_point_is_left_alone(tmp_path):
    kill_file = tmp_path / "kill"
    kill_file.write_text("somewhere_else")
    assert _run(str(kill_file)).stdout.strip() == "alive"
    assert kill_file.exists()

"""`make run`'s supervisor, for real: the whole local stack on free ports, driven over HTTP.

It starts the embedded Redis, moto's server, migrations and the demo data, the web server, a Celery
worker and beat, exactly as `make run` does (only the ports and directories differ), so these
tests take a while: they are marked slow but run in `make test`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.http import json_call
from tests.support.processes import alive, descendants
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SUPERVISOR = ROOT / "scripts" / "localstack.py"
# The seed's curl example ("Tests Manuels").
SEED_MESSAGE = {"recipientId": "fan_123", "content": "Hello! Thanks for subscribing", "priority": 5}
# Only what a person's shell would have: none of the servers the test settings point at.
PASSED_ENV = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ"}


class RunningStack:
    def __init__(self, tmp_path: Path) -> None:
        self.var_dir = tmp_path / "var"
        self.logs_dir = tmp_path / "logs"
        self.port = free_port()
        self.lines: list[str] = []
        self.ready = threading.Event()
        env = {key: value for key, value in os.environ.items() if key in PASSED_ENV}
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(SUPERVISOR),
                "--port",
                str(self.port),
                "--redis-port",
                "0",
                "--sqs-port",
                "0",
                "--var-dir",
                str(self.var_dir),
                "--logs-dir",
                str(self.logs_dir),
                "--env-file",
                "",
                "--grace",
                "5",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.strip() == "localstack | ready":
                self.ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = 150) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"the local stack did not get ready:\n{self.output}")

    def descendants(self) -> dict[int, int]:
        return descendants(self.process.pid)

    def stop(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the supervisor did not stop within {timeout}s:\n{self.output}")
        self.reader.join(5)
        return code

    def kill(self) -> None:
        """Last resort for a failed test: no server may outlive it."""
        for pid, pgrp in self.descendants().items():
            with contextlib.suppress(OSError):
                os.killpg(pgrp, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self.process.kill()
        self.process.wait()

    def request(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        return json_call(self.port, method, path, body, token)


def group_alive(pgrp: int) -> bool:
    try:
        os.killpg(pgrp, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture
def stack(tmp_path):
    running = RunningStack(tmp_path)
    yield running
    if running.process.poll() is None:
        running.kill()


def test_it_serves_the_seed_examples_and_stops_every_process_on_sigterm(stack):
    stack.wait_ready()
    assert f"http://localhost:{stack.port}/api/docs/" in stack.output
    assert "demo / demo" in stack.output
    assert "aws sqs get-queue-attributes --endpoint-url http://127.0.0.1:" in stack.output

    status, tokens = stack.request(
        "POST", "/api/auth/token/", {"username": "demo", "password": "demo"}
    )
    assert status == 200, tokens
    token = tokens["access"]

    status, sent = stack.request("POST", "/api/onlyfans/messages/send", SEED_MESSAGE, token)
    assert status == 202, sent
    assert {"messageId", "status", "queuedAt", "estimatedSendTime", "message"} <= set(sent)

    status, queue = stack.request("GET", "/api/onlyfans/messages/status", token=token)
    assert status == 200, queue
    assert {"queue", "processing", "health", "timestamp"} <= set(queue)

    status, detail = stack.request(
        "GET", f"/api/onlyfans/messages/{sent['messageId']}", token=token
    )
    assert status == 200, detail

    # The seed's operator checks: JSON logs in the log file, and the environment for commands.
    assert "OnlyFansRateLimiterService" in (stack.logs_dir / "app.log").read_text()
    operator_env = (stack.var_dir / "localstack.env").read_text()
    assert "SQS_RATE_LIMITER_QUEUE_URL=http://127.0.0.1:" in operator_env

    children = stack.descendants()
    assert len(children) >= 6, children  # redis, moto, web, worker, beat, consumer
    for name in ("web", "worker", "beat", "consumer"):
        assert f"{name:<10} | " in stack.output

    assert stack.stop() == 0, stack.output
    assert "localstack | stopped" in stack.output
    # Kept for operators: with the stack down, commands still find the database.
    assert "DATABASE_URL=" in (stack.var_dir / "localstack.env").read_text()
    assert [pid for pid in children if alive(pid)] == [], stack.output
    assert [pgrp for pgrp in set(children.values()) if group_alive(pgrp)] == []


def test_a_child_that_dies_brings_the_stack_down(stack):
    stack.wait_ready()
    children = stack.descendants()
    web = next(
        pid
        for pid in children
        if "runserver" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    )
    os.kill(web, signal.SIGKILL)

    code = stack.process.wait(60)
    stack.reader.join(5)
    assert code == 1
    assert "web was killed by signal 9; stopping the stack" in stack.output
    assert [pid for pid in children if alive(pid)] == [], stack.output

"""The README's first command on a fresh checkout: `make run`, with only what it installs.

The other local-stack tests run the supervisor with the test virtualenv, which holds more than
`make run`'s (pytest brings `packaging`, for one), so a runtime dependency missing from the
project's main dependencies would pass them all. This test copies the checkout, lets `make run`
build its own virtualenv there from scratch, replays the seed's two curl examples, waits until
the sandbox gateway has the message, runs operator commands from "a second terminal" (a clean
environment, nothing sourced), then stops the stack with Ctrl-C as a person would.
"""

from __future__ import annotations

import os
import shutil
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
PASSED_ENV = {
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "TZ",
    "PIP_INDEX_URL",
    "PIP_CONFIG_FILE",
}
SEED_LOGIN = {"username": "demo", "password": "demo"}
SEED_MESSAGE = {
    "recipientId": "fan_123",
    "content": "Hello! Thanks for subscribing",
    "mediaUrls": ["https://s3.amazonaws.com/media/image.jpg"],
    "priority": 5,
    "metadata": {"campaignId": "campaign_123"},
}


def clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k in PASSED_ENV}, **extra}


def copy_checkout(target: Path) -> None:
    """The files a fresh clone would have (tracked and new, not ignored): no .venv, no var/."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_make_run_works_on_a_fresh_checkout_with_only_its_own_dependencies(tmp_path):
    checkout = tmp_path / "checkout"
    copy_checkout(checkout)
    port = free_port()
    base_python = getattr(sys, "_base_executable", None) or shutil.which("python3")
    lines: list[str] = []
    ready = threading.Event()
    make = subprocess.Popen(
        ["make", "run", f"PORT={port}", f"PYTHON={base_python}"],
        cwd=checkout,
        env=clean_env(LOCAL_REDIS_PORT="0", LOCAL_SQS_PORT="0"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )

    def read() -> None:
        assert make.stdout is not None
        for line in make.stdout:
            lines.append(line.rstrip("\n"))
            if line.strip() == "localstack | ready":
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    manage = [str(checkout / ".venv" / "bin" / "python"), "manage.py"]

    def second_terminal(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*manage, *args],
            cwd=checkout,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    try:
        deadline = time.monotonic() + 900  # the first install downloads every package
        while not ready.wait(1):
            assert make.poll() is None, "make run exited before it was ready:\n" + "\n".join(
                lines[-40:]
            )
            assert time.monotonic() < deadline, "make run was not ready in time:\n" + "\n".join(
                lines[-40:]
            )
        output = "\n".join(lines)
        assert f"http://localhost:{port}/api/docs/" in output
        assert "demo / demo" in output

        checked = subprocess.run(
            [*manage[:1], "-m", "pip", "check"],
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        installed = subprocess.run(
            [*manage[:1], "-m", "pip", "list", "--format=freeze"],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout.lower()
        assert "pytest" not in installed  # really only what `make run` installs

        # The seed's curl examples: log in and send, then the queue's status.
        status, tokens = json_call(port, "POST", "/api/auth/token/", SEED_LOGIN)
        assert status == 200, tokens
        token = tokens["access"]
        status, sent = json_call(port, "POST", "/api/onlyfans/messages/send", SEED_MESSAGE, token)
        assert status == 202, sent
        assert set(sent) == {"messageId", "status", "queuedAt", "estimatedSendTime", "message"}
        status, queue = json_call(port, "GET", "/api/onlyfans/messages/status", token=token)
        assert status == 200, queue
        assert set(queue) == {"queue", "processing", "health", "timestamp"}

        # The worker and beat deliver it to the sandbox gateway.
        deadline = time.monotonic() + 120
        detail: dict = {}
        while time.monotonic() < deadline and detail.get("status") != "sent":
            assert make.poll() is None, "the stack stopped:\n" + "\n".join(lines[-40:])
            time.sleep(1)
            _, detail = json_call(
                port, "GET", f"/api/onlyfans/messages/{sent['messageId']}", token=token
            )
        assert detail.get("status") == "sent", detail
        assert json_call(port, "GET", "/healthz")[0] == 200
        assert json_call(port, "GET", "/readyz")[0] == 200

        # A second terminal: plain manage.py, no environment sourced.
        recorded = second_terminal(
            "shell",
            "--no-imports",
            "-c",
            "from onlyfans.sandbox.models import SandboxDelivery; "
            f"print(SandboxDelivery.objects.filter(idempotency_key='{sent['messageId']}').count())",
        )
        assert recorded.returncode == 0, recorded.stderr
        assert recorded.stdout.strip() == "1"
        queue_status = second_terminal("queue_status")
        assert queue_status.returncode == 0, queue_status.stderr
        assert "Queue depth" in queue_status.stdout
        webhook = second_terminal(
            "send_webhook", "--fan", "fan_123", "--text", "Inbound from the test"
        )
        assert webhook.returncode == 0, webhook.stderr
        assert "processed" in webhook.stdout

        # Ctrl-C (SIGINT to the foreground group): the whole stack stops cleanly. make itself
        # reports the interrupt with its own exit code; what matters is that nothing is left.
        children = descendants(make.pid)
        assert len(children) >= 6, children  # the supervisor, redis, moto, web, worker, beat
        os.killpg(make.pid, signal.SIGINT)
        make.wait(90)
        reader.join(5)
        assert "localstack | stopped" in lines, "\n".join(lines[-40:])
        assert [pid for pid in children if alive(pid)] == []

        # With the stack down, a command that needs it says so in one line.
        down = second_terminal("queue_status")
        assert down.returncode == 1
        assert "Traceback" not in down.stderr
        assert down.stderr.strip().splitlines() == [
            (
                "CommandError: The message queue cannot be reached. "
                "Is the local stack running (make run)?"
            )
        ]
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()

"""The Procfile's processes, started as a deployment would: DEBUG off, gunicorn, whitenoise,
the consumer, the Celery worker and beat, against the test's Redis, moto SQS and database
(PostgreSQL in `make test`'s concurrency run), delivering to a gateway the test controls.

Requests carry `X-Forwarded-Proto: https`, as the TLS-terminating balancer of the README's
Deploy section would add; a request without it is redirected to HTTPS.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from onlyfans.models import MessageStatus, OutboundMessage
from tests.conftest import make_account
from tests.support.processes import ROOT, subprocess_env
from tests.support.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.concurrency]

HTTPS = {"X-Forwarded-Proto": "https"}


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


class Http:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def __call__(
        self, method: str, path: str, body: dict | None = None, headers: dict | None = None
    ):
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", **(headers or {})},
            method=method,
        )
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=15) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.django_db(transaction=True)
def test_the_procfile_processes_serve_static_files_and_deliver(tmp_path, gateway, queues, owner):
    make_account(owner, onlyfans_id="prod-acct")
    # Hashed as production hashes (the test settings use a fast hasher production does not know).
    owner.password = PBKDF2PasswordHasher().encode(
        "production-password", PBKDF2PasswordHasher().salt()
    )
    owner.save(update_fields=["password"])
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = subprocess_env(
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="production-test-" + "s" * 50,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto=https",
        DJANGO_SECURE_SSL_REDIRECT="true",
        DJANGO_STATIC_MANIFEST="true",
        ONLYFANS_SANDBOX_ENABLED="false",
        STATIC_ROOT=str(tmp_path / "static"),
        PORT=str(port),
        WEB_CONCURRENCY="2",
        CELERY_TASK_ALWAYS_EAGER="false",
    )
    commands = procfile()
    assert set(commands) >= {"release", "web", "consumer", "worker", "beat"}
    commands["beat"] = commands["beat"].replace(
        "/tmp/huntaze-celerybeat-schedule", str(tmp_path / "celerybeat-schedule")
    )

    release = subprocess.run(
        ["sh", "-c", commands["release"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert release.returncode == 0, release.stdout + release.stderr
    assert (tmp_path / "static" / "staticfiles.json").is_file()  # hashed names: the manifest

    processes: dict[str, subprocess.Popen] = {}
    try:
        for name in ("web", "consumer", "worker", "beat"):
            log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - the process keeps it
            processes[name] = subprocess.Popen(
                ["sh", "-c", f"exec {commands[name]}"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
        http = Http(port)

        def logs() -> str:
            return "\n".join(
                f"--- {n}\n" + (tmp_path / f"{n}.log").read_text(errors="replace")[-3000:]
                for n in processes
            )

        deadline = time.monotonic() + 90
        ready = None
        while time.monotonic() < deadline:
            for name, process in processes.items():
                assert process.poll() is None, f"{name} exited:\n{logs()}"
            try:
                ready = http("GET", "/readyz")
            except OSError:
                ready = None
            if ready and ready[0] == 200:
                break
            time.sleep(0.5)
        assert ready and ready[0] == 200, (ready, logs())

        # Plain HTTP is redirected; the balancer's HTTPS requests are served.
        status, headers, _ = http("GET", "/api/docs/")
        assert status == 301 and headers["Location"].startswith("https://"), (status, headers)
        status, _, page = http("GET", "/admin/login/", headers=HTTPS)
        assert status == 200
        stylesheet = re.search(rb'href="(/static/admin/css/base\.[0-9a-f]+\.css)"', page)
        assert stylesheet, page[:2000]
        status, headers, css = http("GET", stylesheet.group(1).decode(), headers=HTTPS)
        assert status == 200 and headers["Content-Type"].startswith("text/css")
        assert b"body" in css
        assert "max-age" in headers.get("Cache-Control", "")

        status, _, body = http(
            "POST",
            "/api/auth/token/",
            {"username": "owner", "password": "production-password"},
            HTTPS,
        )
        assert status == 200, body
        token = json.loads(body)["access"]
        auth = {**HTTPS, "Authorization": f"Bearer {token}"}
        status, _, body = http(
            "POST",
            "/api/onlyfans/messages/send",
            {"recipientId": "fan_1", "content": "From prod"},
            auth,
        )
        assert status == 202, body
        message_id = json.loads(body)["messageId"]

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not gateway.calls:
            time.sleep(0.5)
        assert [call.idempotency_key for call in gateway.calls] == [message_id], logs()
        assert gateway.calls[0].account == "prod-acct"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if OutboundMessage.objects.get(pk=message_id).status == MessageStatus.SENT:
                break
            time.sleep(0.5)
        assert OutboundMessage.objects.get(pk=message_id).status == MessageStatus.SENT
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

"""Production settings: safe defaults with DEBUG off, checked the way an operator would.

Each test runs `manage.py` in a subprocess with a clean environment holding only what the
README's Deploy section asks for, so nothing of the test settings leaks in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Exactly the variables the README's Deploy section lists as required.
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "deploy-check-" + "k" * 60,
    "DJANGO_ALLOWED_HOSTS": "crm.example.com",
    "ONLYFANS_API_BASE_URL": "https://onlyfans-gateway.example.com",
    "ONLYFANS_API_KEY": "deploy-check-gateway-key",
    "SQS_RATE_LIMITER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/huntaze-rate-limiter-queue",
    "SQS_RATE_LIMITER_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/huntaze-rate-limiter-queue-dlq",
    "REDIS_URL": "redis://cache.example.com:6379/0",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**keep, "HUNTAZE_LOCAL_ENV_FILE": "", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_value(name: str, **env: str) -> str:
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        f"from django.conf import settings; print(settings.{name})",
        **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_check_deploy_passes_with_only_the_documented_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_defaults_are_the_safe_ones():
    assert settings_value("SECURE_SSL_REDIRECT", **PRODUCTION_ENV) == "True"
    assert int(settings_value("SECURE_HSTS_SECONDS", **PRODUCTION_ENV)) >= 31_536_000
    assert settings_value("SESSION_COOKIE_SECURE", **PRODUCTION_ENV) == "True"
    assert settings_value("CSRF_COOKIE_SECURE", **PRODUCTION_ENV) == "True"
    assert settings_value("ONLYFANS_SANDBOX_ENABLED", **PRODUCTION_ENV) == "False"


def test_behind_a_tls_proxy_the_forwarded_header_is_trusted():
    env = {**PRODUCTION_ENV, "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto=https"}
    assert settings_value("SECURE_PROXY_SSL_HEADER", **env) == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_a_malformed_proxy_header_stops_start_up():
    result = manage("check", **PRODUCTION_ENV, DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    assert result.returncode != 0
    assert "DJANGO_SECURE_PROXY_SSL_HEADER must look like X-Forwarded-Proto=https" in result.stderr


@pytest.mark.parametrize("command", [["check"], ["migrate", "--plan"]])
def test_without_a_gateway_production_refuses_to_start(command):
    env = {
        k: v
        for k, v in PRODUCTION_ENV.items()
        if k not in {"ONLYFANS_API_BASE_URL", "ONLYFANS_API_KEY"}
    }
    result = manage(*command, **env)
    assert result.returncode != 0
    assert "ONLYFANS_API_BASE_URL is required" in result.stderr


def test_the_sandbox_serves_production_only_when_asked_for_explicitly():
    env = {
        k: v
        for k, v in PRODUCTION_ENV.items()
        if k not in {"ONLYFANS_API_BASE_URL", "ONLYFANS_API_KEY"}
    }
    env["ONLYFANS_SANDBOX_ENABLED"] = "true"
    assert settings_value("ONLYFANS_API_BASE_URL", **env).endswith("/sandbox/onlyfans")
    # With a real gateway set, the sandbox's routes are not mounted at all.
    probe = (
        "from django.urls import resolve, Resolver404\ntry:\n"
        " resolve('/sandbox/onlyfans/api/a/chats/b/messages'); print('mounted')\n"
        "except Resolver404: print('absent')"
    )
    result = manage("shell", "--no-imports", "-c", probe, **PRODUCTION_ENV)
    assert result.stdout.strip() == "absent", result.stderr
    result = manage("shell", "--no-imports", "-c", probe, **env)
    assert result.stdout.strip() == "mounted", result.stderr

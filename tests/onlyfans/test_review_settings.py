"""Pipeline settings that used to be accepted silently and broke delivery or the API limits."""

from __future__ import annotations

import json

import pytest

from tests.test_settings_env import BASE_ENV, load_settings


def test_it_refuses_a_real_gateway_without_its_api_key():
    """Without this, every message went to the gateway with the sandbox's placeholder key and
    failed permanently on the 401 — a misconfiguration discovered one lost send at a time."""
    env = {key: value for key, value in BASE_ENV.items() if key != "ONLYFANS_API_KEY"}

    result = load_settings(**env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "ONLYFANS_API_KEY is required" in result.stderr


def test_it_needs_no_gateway_key_for_the_sandbox():
    result = load_settings(DJANGO_SECRET_KEY="x" * 50, ONLYFANS_SANDBOX_ENABLED="true")
    assert result.returncode == 0, result.stderr
    assert load_settings(DJANGO_DEBUG="true").returncode == 0


@pytest.mark.parametrize("name", ["SEND_RATE_LIMIT", "LOGIN_RATE_LIMIT"])
@pytest.mark.parametrize(
    "raw",
    [
        "sixty",  # django-ratelimit cannot parse it: the throttle failed open, no limit at all
        "60 per minute",
        "60/M",  # read as 60 per *second*
        "100/week",  # read as 100 per second
        "60/0m",  # a zero-length window: every request crashed the throttle, which let it pass
        "0/m",
    ],
)
def test_it_refuses_a_request_limit_it_cannot_enforce(name, raw):
    result = load_settings(**BASE_ENV, **{name: raw})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr


@pytest.mark.parametrize("raw", ["60/m", "100/5m", "1000/h", "5/10s", "1/d"])
def test_it_accepts_django_ratelimit_rates(raw):
    result = load_settings(**BASE_ENV, SEND_RATE_LIMIT=raw, LOGIN_RATE_LIMIT=raw)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["DEBUG"] == "False"

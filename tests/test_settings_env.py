"""Settings come from the environment through typed readers that fail loudly on a bad value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from huntaze.core.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_optional,
    env_str,
    redis_url_from_endpoint,
)

ROOT = Path(__file__).resolve().parent.parent


# --- The readers --------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["true", "True", "1", "yes", "on", " TRUE "])
def test_it_reads_true(monkeypatch, raw):
    monkeypatch.setenv("X", raw)
    assert env_bool("X", False) is True


@pytest.mark.parametrize("raw", ["false", "False", "0", "no", "off"])
def test_it_reads_false(monkeypatch, raw):
    monkeypatch.setenv("X", raw)
    assert env_bool("X", True) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "t"])
def test_it_refuses_a_bool_that_is_neither(monkeypatch, raw):
    monkeypatch.setenv("X", raw)
    with pytest.raises(ImproperlyConfigured, match="X must be true or false"):
        env_bool("X", True)


def test_it_uses_the_default_when_unset_or_empty(monkeypatch):
    monkeypatch.delenv("X", raising=False)
    assert env_bool("X", True) is True
    assert env_int("X", 7) == 7
    assert env_float("X", 0.5) == 0.5
    assert env_list("X", ["a"]) == ["a"]
    assert env_str("X", "d") == "d"
    assert env_optional("X") is None
    monkeypatch.setenv("X", "")
    assert env_bool("X", False) is False
    assert env_int("X", 7) == 7
    assert env_str("X", "d") == "d"
    assert env_optional("X") is None


def test_it_requires_a_string_without_default(monkeypatch):
    monkeypatch.delenv("X", raising=False)
    with pytest.raises(ImproperlyConfigured, match="X is required"):
        env_str("X")


@pytest.mark.parametrize("raw", ["ten", "1.5", "0x10", "1e3"])
def test_it_refuses_an_integer_that_is_not_one(monkeypatch, raw):
    monkeypatch.setenv("X", raw)
    with pytest.raises(ImproperlyConfigured, match="X must be an integer"):
        env_int("X", 1)


def test_it_refuses_an_integer_below_its_minimum(monkeypatch):
    monkeypatch.setenv("X", "0")
    with pytest.raises(ImproperlyConfigured, match="X must be at least 1"):
        env_int("X", 5, minimum=1)
    monkeypatch.setenv("X", " 12 ")
    assert env_int("X", 5, minimum=1) == 12


@pytest.mark.parametrize("raw", ["fast", "1,5", "nan-ish"])
def test_it_refuses_a_number_that_is_not_one(monkeypatch, raw):
    monkeypatch.setenv("X", raw)
    with pytest.raises(ImproperlyConfigured, match="X must be a number"):
        env_float("X", 1.0)


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf"])
def test_it_refuses_a_number_that_is_not_finite(monkeypatch, raw):
    monkeypatch.setenv("X", raw)
    with pytest.raises(ImproperlyConfigured, match="X must be a finite number"):
        env_float("X", 1.0, minimum=0)


def test_it_refuses_a_number_below_its_minimum(monkeypatch):
    monkeypatch.setenv("X", "0.01")
    with pytest.raises(ImproperlyConfigured, match="at least 0.05"):
        env_float("X", 1.0, minimum=0.05)
    monkeypatch.setenv("X", "2.5")
    assert env_float("X", 1.0, minimum=0.05) == 2.5


def test_it_splits_a_list_on_commas(monkeypatch):
    monkeypatch.setenv("X", " a.example.com, b.example.com ,,")
    assert env_list("X", []) == ["a.example.com", "b.example.com"]


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        (
            "huntaze-redis.xxxxx.use1.cache.amazonaws.com:6379",
            "redis://huntaze-redis.xxxxx.use1.cache.amazonaws.com:6379/0",
        ),
        ("redis://127.0.0.1:6380/2", "redis://127.0.0.1:6380/2"),
        ("rediss://cache.example.com:6379/0", "rediss://cache.example.com:6379/0"),
    ],
)
def test_it_accepts_the_seeds_redis_endpoint_or_a_url(endpoint, url):
    assert redis_url_from_endpoint(endpoint) == url


# --- The settings module, loaded fresh with a given environment ---------------------------------
PROBE = (
    "import json, django.conf; from huntaze import settings as s; "
    "print(json.dumps({k: str(getattr(s, k)) for k in "
    "['DEBUG', 'REDIS_URL', 'RATE_LIMITER_ENABLED', 'ONLYFANS_RATE_LIMIT_PER_MINUTE', "
    "'CLOUDWATCH_NAMESPACE', 'AWS_REGION', 'SQS_RATE_LIMITER_QUEUE_URL', 'ALLOWED_HOSTS']}))"
)
BASE_ENV = {
    "DJANGO_SECRET_KEY": "x" * 50,
    "ONLYFANS_API_BASE_URL": "https://gateway.example.com",
    "ONLYFANS_API_KEY": "test-gateway-key",
}


def load_settings(**env: str) -> subprocess.CompletedProcess:
    keep = {
        k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR"}
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_loads_the_seeds_variables():
    result = load_settings(
        **BASE_ENV,
        RATE_LIMITER_ENABLED="false",
        REDIS_ENDPOINT="cache.example.com:6379",
        CLOUDWATCH_NAMESPACE="Huntaze/OnlyFans",
        AWS_REGION="eu-west-1",
        SQS_RATE_LIMITER_QUEUE_URL="https://sqs.eu-west-1.amazonaws.com/000000000000/q",
        ONLYFANS_RATE_LIMIT_PER_MINUTE="20",
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["RATE_LIMITER_ENABLED"] == "False"
    assert loaded["REDIS_URL"] == "redis://cache.example.com:6379/0"
    assert loaded["CLOUDWATCH_NAMESPACE"] == "Huntaze/OnlyFans"
    assert loaded["AWS_REGION"] == "eu-west-1"
    assert loaded["SQS_RATE_LIMITER_QUEUE_URL"].endswith("/q")
    assert loaded["ONLYFANS_RATE_LIMIT_PER_MINUTE"] == "20"
    assert loaded["DEBUG"] == "False"
    assert loaded["ALLOWED_HOSTS"] == "[]"


def test_it_prefers_redis_url_to_redis_endpoint():
    result = load_settings(**BASE_ENV, REDIS_URL="redis://a:1/3", REDIS_ENDPOINT="b:2")
    assert json.loads(result.stdout)["REDIS_URL"] == "redis://a:1/3"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG must be true or false"),
        ({"RATE_LIMITER_ENABLED": "sometimes"}, "RATE_LIMITER_ENABLED must be true or false"),
        (
            {"ONLYFANS_RATE_LIMIT_PER_MINUTE": "ten"},
            "ONLYFANS_RATE_LIMIT_PER_MINUTE must be an integer",
        ),
        (
            {"ONLYFANS_RATE_LIMIT_PER_MINUTE": "0"},
            "ONLYFANS_RATE_LIMIT_PER_MINUTE must be at least 1",
        ),
        ({"PORT": "http"}, "PORT must be an integer"),
        ({"SQS_REQUEST_TIMEOUT": "soon"}, "SQS_REQUEST_TIMEOUT must be a number"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be json or text"),
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY is required"),
        (
            {"ONLYFANS_API_BASE_URL": "", "ONLYFANS_SANDBOX_ENABLED": "false"},
            "ONLYFANS_API_BASE_URL is required",
        ),
    ],
)
def test_it_refuses_to_start_with_a_bad_value(env, message):
    result = load_settings(**{**BASE_ENV, **env})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_it_needs_no_secret_in_local_debug():
    result = load_settings(DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert "localhost" in json.loads(result.stdout)["ALLOWED_HOSTS"]


# --- Pipeline settings once accepted silently that broke delivery or the API limits ---
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

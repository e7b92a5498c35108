"""Typed readers for settings: every value comes from the environment and a bad one fails loudly."""

from __future__ import annotations

import math
import os
import re

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"The environment variable {name} is required.")
        return default
    return value


def env_optional(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def env_header_pair(name: str) -> tuple[str, str] | None:
    """An HTTP header and the value that marks a request, as `X-Forwarded-Proto=https`.

    Returns Django's form, ("HTTP_X_FORWARDED_PROTO", "https"), or None when unset.
    """
    raw = env_optional(name)
    if raw is None:
        return None
    header, sep, value = raw.partition("=")
    header, value = header.strip(), value.strip()
    if not sep or not value or not re.fullmatch(r"[A-Za-z0-9-]+", header):
        raise ImproperlyConfigured(f"{name} must look like X-Forwarded-Proto=https, not {raw!r}.")
    return "HTTP_" + header.upper().replace("-", "_"), value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}.") from None
    if not math.isfinite(value):
        # float() takes "nan" and "inf", and NaN slips past every minimum check.
        raise ImproperlyConfigured(f"{name} must be a finite number, not {raw!r}.")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


# django-ratelimit's syntax, strictly: it reads what its own pattern does not match in odd ways
# ("60/M" and "100/week" as per second) or not at all, and a throttle that cannot read its
# rate lets every request through.
_RATE = re.compile(r"[1-9][0-9]*/([1-9][0-9]*)?[smhd]")


def env_rate(name: str, default: str) -> str:
    """A request rate such as `60/m` or `100/5m` (count / [multiplier] s, m, h or d)."""
    value = env_str(name, default).strip()
    if not _RATE.fullmatch(value):
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 60/m or 100/5m (count/[n]s|m|h|d), not {value!r}."
        )
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def redis_url_from_endpoint(endpoint: str) -> str:
    """REDIS_ENDPOINT as deployments set it, `host:port`; accept a full URL too."""
    if "://" in endpoint:
        return endpoint
    return f"redis://{endpoint}/0"
